"""Coverage-guided fuzzing (atheris/libFuzzer) of two entry points, chosen by the first input byte:

  even: ``dln.load_checkpoint`` on the rest of the input as a file (CheckpointError or the exact
        saved contents; the corpus starts from a real checkpoint, fuzz/corpus/seed-checkpoint);
  odd:  ``dln.Factorization``/``Regression`` + ``dln.train`` with arrays and hyperparameters decoded
        from the input (documented exception naming a parameter, or a sane result).

Any other exception, or a crash, is a finding (libFuzzer writes the input to crash-*). Run through
scripts/fuzz.sh; by hand: python fuzz/atheris_fuzz.py fuzz/corpus -max_total_time=60
"""

import os
import re
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import numpy as np

    import dln

NAMED = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(\[\d+\])?(: [A-Za-z_][A-Za-z_0-9]*(\[\d+\])?)?(?=[: ])")
TMP = tempfile.mkdtemp(prefix="dln-atheris-")
PATH = os.path.join(TMP, "input.ckpt")


def refused(exc, allowed=(TypeError, ValueError, MemoryError)):
    if not isinstance(exc, allowed) or not NAMED.match(str(exc)):
        raise AssertionError(f"undocumented failure {type(exc).__name__}: {exc}") from exc


def fuzz_checkpoint(data: bytes) -> None:
    with open(PATH, "wb") as f:
        f.write(data)
    try:
        ck = dln.load_checkpoint(PATH)
    except dln.CheckpointError as exc:
        refused(exc)
        return
    # Accepted: it must be internally consistent.
    assert ck.step <= ck.steps and all(np.isfinite(w).all() for w in ck.network.weights)


def fuzz_train(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    m, n, k = (fdp.ConsumeIntInRange(0, 5) for _ in range(3))
    dtype = [np.float64, np.float32, np.int32, np.float16][fdp.ConsumeIntInRange(0, 3)]
    vals = np.array(fdp.ConsumeRegularFloatList(m * n) + [0.0] * (m * n), dtype=np.float64)[: m * n]
    with np.errstate(all="ignore"):
        target = vals.reshape(m, n).astype(dtype)
    kw = dict(lr=fdp.ConsumeRegularFloat(), steps=fdp.ConsumeIntInRange(-2, 40),
              optimizer=["gd", "momentum", "adam", "rmsprop", "sgd"][fdp.ConsumeIntInRange(0, 4)],
              record_every=fdp.ConsumeIntInRange(-1, 5), momentum=fdp.ConsumeRegularFloat(),
              eps=fdp.ConsumeRegularFloat(), decay=fdp.ConsumeRegularFloat(),
              betas=(fdp.ConsumeRegularFloat(), fdp.ConsumeRegularFloat()))
    if fdp.ConsumeBool():
        kw["tol"] = fdp.ConsumeRegularFloat()
    try:
        if fdp.ConsumeBool():
            p = dln.Factorization(target)
        else:
            p = dln.Regression(target, np.ones((k, n)))
        net = dln.Network.orthogonal([p.input_dim, k + 1, p.output_dim], seed=fdp.ConsumeIntInRange(0, 9))
        r = dln.train(net, p, n_threads=1, progress=False, **kw)
    except (TypeError, ValueError, MemoryError) as exc:
        refused(exc)
        return
    assert r.status in ("converged", "max_steps", "diverged", "interrupted")
    assert all(np.isfinite(w).all() for w in r.network.weights)


def one_input(data: bytes) -> None:
    if not data:
        return
    (fuzz_checkpoint if data[0] % 2 == 0 else fuzz_train)(data[1:])


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
