"""Dense GD steps of deep linear networks: dln against NumPy, PyTorch (CPU) and JAX (CPU, jit).

Every library runs the same maths from the same start: loss plus all layer gradients from prefix and
suffix products, then W_l <- W_l - lr * grad_l, mean reduction (loss = 1/2 c ||residual||^2).

  A  factorisation, d x d layers, target of rank 10: 3L-3 products per step.
  B  regression, d_in = width = d_out, N samples: peers time both forms and keep their faster one,
     "data" (through the N columns, 3L-1 products) and "covariance" (S = X X^T, C = Y X^T
     precomputed outside the timing, 3L-2 products); dln uses form="auto".

Timing: each library runs `steps` steps per call (dln: one dln.train call; JAX: one jitted
lax.fori_loop) and ends with the loss of its final weights, as dln.train does (one forward pass
more than the steps: every library pays it), seconds / steps, median over interleaved repeats.
Correctness: every library's final weights are scored by one float64 reference loss and compared
with dln's.

    python bench/bench_dense.py                 # both cases, float64 and float32, 2 threads
    python bench/bench_dense.py --quick         # small sizes, smoke run
    python bench/bench_dense.py --cases A --dtype float64 --threads 1
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (stdlib only at import time)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    p.add_argument("--cases", default="A,B", help="comma-separated subset of A,B (default A,B)")
    p.add_argument("--dtype", default="both", choices=["float64", "float32", "both"])
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (smoke run)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, quick 3)")
    p.add_argument("--steps", type=int, default=None,
                   help="GD steps per timed call (default 10; quick 5)")
    p.add_argument("--no-marginal", dest="marginal", action="store_false",
                   help="skip the extra dln.train(2k) calls that split dln's time per step / per call")
    p.add_argument("--libs", default="dln,numpy,torch,jax",
                   help="comma-separated subset of dln,numpy,torch,jax")
    args = p.parse_args(argv)
    args.cases = [c.strip().upper() for c in args.cases.split(",") if c.strip()]
    if not set(args.cases) <= {"A", "B"}:
        p.error(f"--cases: expected a subset of A,B, got {args.cases}")
    args.libs = [x.strip() for x in args.libs.split(",") if x.strip()]
    if args.threads < 1:
        p.error("--threads must be >= 1")
    return args


# Filled by setup(): the libraries load only after their thread pools have been configured.
np = dln = torch = jax = None
THREADS = 1
VERSIONS: dict = {}
_POOLS = None


def optional_import(name: str, libs: list[str]):
    if name not in libs:
        return None, "not requested"
    try:
        if name == "jax":
            import jax
            jax.config.update("jax_enable_x64", True)  # float64 must not be silently downcast
            import jax.numpy  # noqa: F401
            return jax, jax.__version__
        mod = __import__(name)
        return mod, getattr(mod, "__version__", "?")
    except Exception as e:  # noqa: BLE001  (a broken install is as absent as a missing one)
        return None, f"unavailable ({type(e).__name__}: {e})"


def setup(threads: int, libs: list[str] = ("dln", "numpy", "torch", "jax"),
          configure: bool = True) -> str:
    """Pin every library to `threads` threads, then import the requested ones into this module.

    Call once per process, before anything else imports NumPy, PyTorch or JAX (with
    `configure=False` when the caller has run `common.configure_threads` itself). Returns the
    thread note printed beside the tables; `VERSIONS` holds each library's version or why it is
    missing.
    """
    global np, dln, torch, jax, THREADS, _POOLS
    note = common.configure_threads(threads) if configure else ""
    import numpy
    np, THREADS = numpy, threads
    dln, VERSIONS["dln"] = optional_import("dln", libs)
    torch, VERSIONS["torch"] = optional_import("torch", libs)
    jax, VERSIONS["jax"] = optional_import("jax", libs)
    VERSIONS["numpy"] = numpy.__version__
    if torch is not None:
        torch.set_num_threads(threads)
    _POOLS = common.limit_loaded_pools(threads)
    return note


# ----------------------------------------------------------------------------------------------
# The step, written once per library. Layer l (0-based) maps widths[l] -> widths[l+1].
# "ins[l]" is the input of layer l: X (data form) or the identity (factorisation, covariance form),
# in which case layer 0's output is W_0 itself and its gradient is the backpropagated residual.


class NumpyRunner(common.Runner):
    lib = "numpy"

    def __init__(self, spec: common.Spec, form: str):
        self.spec, self.variant = spec, form
        dt, L, n = spec.dtype, spec.L, spec.n_cols if form == "data" else spec.widths[0]
        w = spec.widths
        self.P = [np.empty((w[l + 1], n), dt) for l in range(L)]
        self.B = [np.empty((w[l], n), dt) for l in range(L)]  # B[l]: residual at layer l's input
        self.G = [np.empty((w[l + 1], w[l]), dt) for l in range(L)]
        self.R = np.empty((w[L], n), dt)
        if form == "covariance":
            X, Y = spec.X, spec.Y
            self.S, self.C = X @ X.T, Y @ X.T
            self.yy = float(np.vdot(Y, Y))
            self.ES = np.empty_like(self.R)

    def reset(self):
        self.W = [w.copy() for w in self.spec.W0]

    def run(self):
        for _ in range(self.spec.steps):
            self._step()
        self.loss = self._forward()[0]  # the loss of the final weights, as dln.train reports it

    def _forward(self) -> tuple[float, list]:
        """The loss of the current weights; leaves the residual in R and returns the layers' inputs."""
        s, W, P, L, form = self.spec, self.W, self.P, self.spec.L, self.variant
        if form == "data":
            ins = [s.X] + P[:-1]
            for l in range(L):
                np.matmul(W[l], ins[l], out=P[l])
        else:
            ins = [None, W[0]] + P[1:-1]
            P[0] = W[0]
            for l in range(1, L):
                np.matmul(W[l], P[l - 1], out=P[l])
        E, R = P[L - 1], self.R
        if form == "covariance":
            np.matmul(E, self.S, out=self.ES)
            loss = 0.5 * s.c * (float(np.vdot(self.ES, E)) - 2 * float(np.vdot(E, self.C)) + self.yy)
            np.subtract(self.ES, self.C, out=R)
        else:
            np.subtract(E, s.Phi if form == "factorization" else s.Y, out=R)
            loss = 0.5 * s.c * float(np.vdot(R, R))
        return loss, ins

    def _step(self) -> float:
        s, W, L = self.spec, self.W, self.spec.L
        loss, ins = self._forward()
        R = self.R
        R *= s.lr * s.c  # gradients are linear in R: fold the step size in once
        B = R
        for l in range(L - 1, -1, -1):
            if ins[l] is None:
                W[l] -= B
                break
            np.matmul(B, ins[l].T, out=self.G[l])
            if l > 0:
                np.matmul(W[l].T, B, out=self.B[l])  # before W[l] changes
                B = self.B[l]
            W[l] -= self.G[l]
        return loss

    def weights(self):
        return self.W


class TorchManualRunner(common.Runner):
    """Hand-written gradients under no_grad, preallocated buffers, fused in-place updates."""

    lib = "torch"

    def __init__(self, spec: common.Spec, form: str):
        self.spec, self.variant = spec, form
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        L, w = spec.L, spec.widths
        n = spec.n_cols if form == "data" else w[0]
        dt = t(spec.W0[0]).dtype
        self.X = t(spec.X) if spec.X is not None else None
        self.Y = t(spec.Y) if spec.Y is not None else None
        self.Phi = t(spec.Phi) if spec.Phi is not None else None
        self.P = [torch.empty((w[l + 1], n), dtype=dt) for l in range(L)]
        self.B = [torch.empty((w[l], n), dtype=dt) for l in range(L)]
        self.R = torch.empty((w[L], n), dtype=dt)
        if form == "covariance":
            self.S, self.C = self.X @ self.X.T, self.Y @ self.X.T
            self.yy = float(torch.vdot(self.Y.reshape(-1), self.Y.reshape(-1)))
            self.ES = torch.empty_like(self.R)

    def reset(self):
        self.W = [torch.from_numpy(w.copy()) for w in self.spec.W0]

    def run(self):
        with torch.no_grad():
            for _ in range(self.spec.steps):
                self._step()
            self.loss = self._forward()[0]  # the loss of the final weights, as dln.train reports it

    def _forward(self) -> tuple[float, list]:
        """The loss of the current weights; leaves the residual in R and returns the layers' inputs."""
        s, W, P, L, form = self.spec, self.W, self.P, self.spec.L, self.variant
        if form == "data":
            ins = [self.X] + P[:-1]
            for l in range(L):
                torch.mm(W[l], ins[l], out=P[l])
        else:
            ins = [None, W[0]] + P[1:-1]
            P[0] = W[0]
            for l in range(1, L):
                torch.mm(W[l], P[l - 1], out=P[l])
        E, R = P[L - 1], self.R
        if form == "covariance":
            torch.mm(E, self.S, out=self.ES)
            loss = 0.5 * s.c * (float(torch.vdot(self.ES.view(-1), E.reshape(-1)))
                               - 2 * float(torch.vdot(E.reshape(-1), self.C.view(-1))) + self.yy)
            torch.sub(self.ES, self.C, out=R)
        else:
            torch.sub(E, self.Phi if form == "factorization" else self.Y, out=R)
            loss = 0.5 * s.c * float(torch.vdot(R.view(-1), R.view(-1)))
        return loss, ins

    def _step(self) -> float:
        s, W, L = self.spec, self.W, self.spec.L
        loss, ins = self._forward()
        R = self.R
        R.mul_(s.lr * s.c)
        B = R
        for l in range(L - 1, -1, -1):
            if ins[l] is None:
                W[l].sub_(B)
                break
            if l > 0:
                torch.mm(W[l].T, B, out=self.B[l])  # before W[l] changes
            W[l].addmm_(B, ins[l].T, alpha=-1.0)  # W -= B ins^T, one fused GEMM
            if l > 0:
                B = self.B[l]
        return loss

    def weights(self):
        return [w.numpy() for w in self.W]


class TorchAutogradRunner(common.Runner):
    """The loss written as a chain, gradients by autograd."""

    lib = "torch"

    def __init__(self, spec: common.Spec, form: str):
        self.spec, self.variant = spec, f"autograd-{form}"
        self.form = form
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        self.X = t(spec.X) if spec.X is not None else None
        self.Y = t(spec.Y) if spec.Y is not None else None
        self.Phi = t(spec.Phi) if spec.Phi is not None else None
        if form == "covariance":
            self.S, self.C = self.X @ self.X.T, self.Y @ self.X.T
            self.yy = float((self.Y * self.Y).sum())

    def reset(self):
        self.W = [torch.from_numpy(w.copy()).requires_grad_(True) for w in self.spec.W0]

    def _loss(self):
        s, out = self.spec, self.X if self.form == "data" else None
        for w in self.W:
            out = w if out is None else w @ out
        if self.form == "covariance":
            return 0.5 * s.c * (((out @ self.S) * out).sum() - 2 * (out * self.C).sum() + self.yy)
        r = out - (self.Phi if self.form == "factorization" else self.Y)
        return 0.5 * s.c * (r * r).sum()

    def run(self):
        s = self.spec
        for _ in range(s.steps):
            self._loss().backward()
            with torch.no_grad():
                for w in self.W:
                    w.sub_(w.grad, alpha=s.lr)
                    w.grad = None
        with torch.no_grad():  # the loss of the final weights, as dln.train reports it
            self.loss = float(self._loss())

    def weights(self):
        return [w.detach().numpy() for w in self.W]


class JaxRunner(common.Runner):
    """The same hand-written step, jitted; lax.fori_loop runs all steps in one dispatch."""

    lib = "jax"

    def __init__(self, spec: common.Spec, form: str):
        import jax.numpy as jnp
        from jax import lax

        self.spec, self.variant = spec, form
        L, lrc = spec.L, spec.lr * spec.c
        dt = spec.dtype
        to = lambda a: jnp.asarray(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
        if form == "data":
            data = (to(spec.X), to(spec.Y))
        elif form == "covariance":
            X, Y = spec.X, spec.Y
            data = (to(X @ X.T), to(Y @ X.T), jnp.asarray(float(np.vdot(Y, Y)), dtype=dt))
        else:
            data = (to(spec.Phi),)
        self.data = data

        def forward(Ws, data):
            """The loss of Ws, the residual and the layers' inputs."""
            if form == "data":
                X, Y = data
                ins, out = [X], X
                for w in Ws:
                    out = w @ out
                    ins.append(out)
                R = out - Y
                loss = 0.5 * spec.c * jnp.vdot(R, R)
            else:
                ins, out = [None, Ws[0]], Ws[0]
                for w in Ws[1:]:
                    out = w @ out
                    ins.append(out)
                if form == "covariance":
                    S, C, yy = data
                    ES = out @ S
                    loss = 0.5 * spec.c * (jnp.vdot(ES, out) - 2 * jnp.vdot(out, C) + yy)
                    R = ES - C
                else:
                    R = out - data[0]
                    loss = 0.5 * spec.c * jnp.vdot(R, R)
            return loss, R, ins

        def step(Ws, data):
            loss, R, ins = forward(Ws, data)
            B = R * jnp.asarray(lrc, R.dtype)
            new = list(Ws)
            for l in range(L - 1, -1, -1):
                if ins[l] is None:
                    new[l] = Ws[l] - B
                    break
                G = B @ ins[l].T
                if l > 0:
                    B = Ws[l].T @ B
                new[l] = Ws[l] - G
            return tuple(new), loss.astype(R.dtype)

        @functools.partial(jax.jit, donate_argnums=0)
        def many(Ws, data):
            zero = jnp.zeros((), dt)
            Ws, _ = lax.fori_loop(0, spec.steps, lambda i, c: step(c[0], data), (Ws, zero))
            return Ws, forward(Ws, data)[0].astype(dt)  # the loss of the final weights, as dln.train reports it

        self.many = many

    def reset(self):
        import jax.numpy as jnp

        self.W = tuple(jnp.asarray(w) for w in self.spec.W0)
        jax.block_until_ready(self.W)

    def run(self):
        self.W, loss = self.many(self.W, self.data)
        jax.block_until_ready(self.W)
        self.loss = loss

    def weights(self):
        return [np.asarray(w) for w in self.W]


class DlnRunner(common.Runner):
    """One dln.train call of `steps` GD steps (the loop runs in C++)."""

    lib = "dln"

    def __init__(self, spec: common.Spec, steps: int | None = None):
        self.spec = spec
        self.steps = steps or spec.steps  # steps per call: 2k for the marginal-cost twin
        if spec.kind == "factorization":
            self.problem = dln.Factorization(spec.Phi, reduction="mean")
            self.variant = "factorization"
        else:
            self.problem = dln.Regression(spec.X, spec.Y, reduction="mean", form="auto")
            self.variant = "auto"
        self.reset()
        try:  # what dln says it does, to name the form and cross-check the flop count
            if spec.kind == "regression":
                self.variant = f"auto->{self.problem.form_for(self.net)}"
            self.flops = float(self.problem.flops_per_step(self.net))
        except Exception:  # noqa: BLE001  (introspection is optional)
            self.flops = None
        self.internal: list[float] = []
        # No progress bar or callback inside the timed call, where the API has that switch.
        self.quiet = ({"progress": False}
                      if "progress" in inspect.signature(dln.train).parameters else {})

    def reset(self):
        self.net = dln.Network([w.copy() for w in self.spec.W0])

    def run(self):
        self.res = dln.train(self.net, self.problem, self.spec.lr, steps=self.steps,
                             n_threads=THREADS, **self.quiet)
        sec = getattr(self.res, "seconds", None)
        if sec is not None:
            self.internal.append(float(sec) / self.steps)

    def weights(self):
        return [np.asarray(w) for w in self.res.network.weights]

    def reported_final_loss(self) -> float:
        return float(np.asarray(self.res.loss)[-1])


class GemmRunner(common.Runner):
    """The yardstick, timed in the same rotation: `steps` NumPy 1000 x 1000 GEMMs, time per GEMM."""

    lib, variant, n = "gemm", "numpy 1000^2", 1000

    def __init__(self, spec: common.Spec):
        rng = np.random.default_rng(0)
        self.spec = spec
        self.a, self.b = (rng.standard_normal((self.n, self.n)).astype(spec.dtype) for _ in range(2))
        self.c = np.empty_like(self.a)

    def reset(self):
        pass

    def run(self):
        for _ in range(self.spec.steps):
            np.matmul(self.a, self.b, out=self.c)

    def weights(self):
        return self.spec.W0


# ----------------------------------------------------------------------------------------------


def forms_for(spec: common.Spec) -> list[str]:
    return ["factorization"] if spec.kind == "factorization" else ["data", "covariance"]


def make_runners(spec: common.Spec, forms: list[str] | None = None
                 ) -> tuple[list[common.Runner], list[str]]:
    """dln and every peer variant for `spec`; `forms` restricts the peers' forms (default all)."""
    runners: list[common.Runner] = []
    notes: list[str] = []

    def add(factory, what):
        try:
            runners.append(factory())
        except Exception as e:  # noqa: BLE001  (report and skip this peer, keep the others)
            notes.append(f"skipped {what}: {type(e).__name__}: {e}")

    if dln is not None:
        add(lambda: DlnRunner(spec), "dln")
    for form in forms or forms_for(spec):
        add(lambda: NumpyRunner(spec, form), f"numpy[{form}]")
        if torch is not None:
            add(lambda: TorchManualRunner(spec, form), f"torch[{form}]")
            add(lambda: TorchAutogradRunner(spec, form), f"torch[autograd-{form}]")
        if jax is not None:
            add(lambda: JaxRunner(spec, form), f"jax[{form}]")
    return runners, notes


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), np.finfo(np.float64).tiny)


def run_case(spec: common.Spec, repeats: int, gemm: dict[str, float], marginal: bool = True,
             forms: list[str] | None = None, yardstick: bool = True) -> dict:
    """Time dln and the peers on `spec` (interleaved), print the case's table, return the numbers.

    `gemm` maps dtype name to the start-of-run GEMM rate (printed beside the in-rotation one);
    `marginal` adds the dln.train(2k) twin; `forms` restricts the peers' forms (default all);
    `yardstick=False` leaves the GEMM out of the rotation (`gemm` is then the rate used).
    The result holds runner objects (`best`, `dln`) and plain data: `times` (label -> seconds per
    step, one per repeat), `final` (label -> float64 reference loss), `rel` (label -> relative
    difference to dln's, or NumPy's without dln), `start`, `tol`, `flops`, `gemm`.
    """
    print(f"\n== {spec.name} | {spec.dtype.name} | {spec.steps} steps/call x {repeats} repeats | "
          f"lr={spec.lr:.6g} (mean units) ==")
    runners, notes = make_runners(spec, forms)
    for n in notes:
        print("  " + n)
    gemm_r = GemmRunner(spec) if yardstick else None
    extra: list[common.Runner] = [gemm_r] if gemm_r else []
    twin = None
    if marginal and any(r.lib == "dln" for r in runners):
        # dln.train(2k) beside dln.train(k) splits dln's time into per-step and per-call parts.
        twin = DlnRunner(spec, steps=2 * spec.steps)
        twin.variant += "-2k"
        extra.append(twin)
    times = common.time_runners(runners + extra, repeats, spec.steps)
    gemm_now = (2.0 * gemm_r.n ** 3 / common.median(times.pop(gemm_r.label)) / 1e9 if gemm_r
                else gemm[spec.dtype.name])

    start = common.reference_loss(spec, spec.W0)
    final = {r.label: common.reference_loss(spec, r.weights()) for r in runners}
    dln_r = next((r for r in runners if r.lib == "dln"), None)
    yard_label = dln_r.label if dln_r else next(r.label for r in runners if r.lib == "numpy")
    yard = final[yard_label]
    tol = 1e-9 if spec.dtype == np.float64 else 1e-3
    d_in = spec.widths[0]
    flops = {f: common.chain_flops(spec.widths, f, spec.n_cols, d_in) for f in forms_for(spec)}
    best_form = min(flops, key=flops.get)

    rows = []
    for r in runners:
        t = common.median(times[r.label])
        form = r.variant.split("-")[-1] if r.lib != "dln" else r.variant.split(">")[-1]
        if form not in flops:
            form = best_form
        gf = flops[form] / t / 1e9
        d = rel(final[r.label], yard)
        rows.append([r.label, f"{t * 1e3:.2f}", f"{min(times[r.label]) * 1e3:.2f}", f"{gf:.1f}",
                     f"{gf / gemm_now:.2f}", f"{final[r.label]:.10g}", f"{d:.1e}",
                     "ok" if d <= tol else "MISMATCH"])
    if gemm_r:
        print(f"  NumPy GEMM 1000x1000 in the same rotation: {gemm_now:.1f} GFLOP/s "
              f"(start of run: {gemm[spec.dtype.name]:.1f}); xGEMM below is relative to the former")
    else:
        print(f"  NumPy GEMM 1000x1000 (start of run, not in this rotation): {gemm_now:.1f} GFLOP/s")
    print(f"  loss at start {start:.10g}; flops/step: "
          + ", ".join(f"{k} {v / 1e9:.3f} GFLOP" for k, v in flops.items()))
    print(common.fmt_table(["library[variant]", "ms/step", "min ms", "GFLOP/s", "xGEMM",
                            "final loss (f64 ref)", f"rel vs {yard_label.split('[')[0]}", "check"],
                           rows))
    split = None  # dln's time split into per-step and per-call parts, with the twin
    if dln_r is not None:
        if dln_r.flops is not None and dln_r.flops != flops.get(dln_r.variant.split(">")[-1],
                                                                 flops[best_form]):
            print(f"  NOTE: dln reports {dln_r.flops / 1e9:.3f} GFLOP/step, this harness counts "
                  f"{flops[best_form] / 1e9:.3f}")
        if twin is not None:
            t_k = common.median(times[dln_r.label]) * spec.steps
            t_2k = common.median(times.pop(twin.label)) * spec.steps
            per_step = (t_2k - t_k) / spec.steps
            split = dict(per_step=per_step, per_call=t_k - spec.steps * per_step)
            print(f"  dln split: (train(2k) - train(k)) / k = {per_step * 1e3:.2f} ms per step, "
                  f"per-call remainder train(k) - k * that = {(t_k - spec.steps * per_step) * 1e3:.1f} ms "
                  f"(k = {spec.steps})")
        rep = dln_r.reported_final_loss()
        print(f"  dln's own reported final loss {rep:.10g} (rel {rel(rep, yard):.1e} vs f64 ref); "
              f"dln's res.seconds/step median "
              f"{common.median(dln_r.internal[1:]) * 1e3:.2f} ms vs wall "
              f"{common.median(times[dln_r.label]) * 1e3:.2f} ms; "
              f"status {getattr(dln_r.res, 'status', '?')}")

    own = {r.label: rel(float(r.loss), final[r.label]) for r in runners if getattr(r, "loss", None) is not None}
    if own:  # every peer's timed call ends with the loss of its final weights, like dln.train's
        worst = max(own, key=own.get)
        print(f"  peers' own final losses vs the f64 reference of their weights: max rel {own[worst]:.1e} ({worst})")
    peers = [r for r in runners if r.lib != "dln"]
    best = min(peers, key=lambda r: common.median(times[r.label])) if peers else None
    max_d = max((rel(final[r.label], yard) for r in runners), default=float("nan"))
    return dict(case=spec.name.split()[0], dtype=spec.dtype.name, times=times, best=best,
                dln=dln_r, flops=flops[best_form], max_rel=max_d, tol=tol,
                gemm=gemm_now, final=final, rel={k: rel(v, yard) for k, v in final.items()},
                start=start, reference=yard_label, split=split)


def summary(results: list[dict]) -> str:
    rows = []
    for res in results:
        t = lambda r: common.median(res["times"][r.label]) if r else float("nan")  # noqa: E731
        td, tb = t(res["dln"]), t(res["best"])
        ratio = td / tb if res["dln"] and res["best"] else float("nan")
        gf = res["flops"] / td / 1e9 if res["dln"] else float("nan")
        verdict = "n/a" if ratio != ratio else ("PASS" if ratio <= 1.0 else "FAIL")
        rows.append([res["case"], res["dtype"], f"{td * 1e3:.2f}",
                     res["best"].label if res["best"] else "-", f"{tb * 1e3:.2f}",
                     f"{ratio:.3f}", verdict, f"{gf:.1f}", f"{res['gemm']:.1f}",
                     f"{gf / res['gemm']:.2f}",
                     f"{res['max_rel']:.1e}" + ("" if res["max_rel"] <= res["tol"] else " !")])
    return common.fmt_table(["case", "dtype", "dln ms", "best peer", "peer ms", "dln/peer",
                             "<=1.0", "dln GF/s", "GEMM GF/s", "dln/GEMM", "max rel loss"], rows)


def main() -> int:
    global ARGS
    ARGS = parse_args()
    thread_note = setup(ARGS.threads, ARGS.libs)
    quick = ARGS.quick
    repeats = ARGS.repeats or (3 if quick else 5)
    dtypes = ["float64", "float32"] if ARGS.dtype == "both" else [ARGS.dtype]

    print("dln dense benchmark (bench/bench_dense.py)" + (" --quick" if quick else ""))
    for line in common.machine_lines(ARGS.threads, thread_note):
        print(line)
    for name in ("numpy", "torch", "jax", "dln"):
        print(f"{name:8s}: {VERSIONS[name]}")
    if jax is not None:
        print(f"jax dev : {jax.devices()}")
    if dln is not None and hasattr(dln, "build_info"):
        try:
            info = dln.build_info()
            print("dln.build_info():")
            for k in sorted(info):
                print(f"    {k}: {info[k]}")
        except Exception as e:  # noqa: BLE001
            print(f"dln.build_info() failed: {type(e).__name__}: {e}")
    gemm = {dt: common.gemm_gflops(np.dtype(dt)) for dt in dtypes}
    print("numpy GEMM 1000x1000: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in gemm.items()))

    results = []
    for case in ARGS.cases:
        for dt in dtypes:
            if case == "A":
                d = 200 if quick else 1000
                spec = common.factorization_spec(d, 3, 10, dt, ARGS.steps or (5 if quick else 10))
            else:
                d, N = (128, 512) if quick else (512, 2048)
                spec = common.regression_spec(d, N, 4, dt, ARGS.steps or (5 if quick else 10))
            results.append(run_case(spec, repeats, gemm, ARGS.marginal))

    for line in common.blas_lines():  # after the runs: every library has loaded its pools by now
        print(line)
    print("\nSummary (ms per GD step, median; ratio = dln / fastest peer variant; "
          "dln/GEMM = dln's GFLOP/s over NumPy's 1000x1000 GEMM rate timed in the same rotation)")
    print(summary(results))
    bad = [r for r in results if not r["max_rel"] <= r["tol"]]
    if bad:
        print("WARNING: loss mismatch beyond tolerance in " +
              ", ".join(f"{r['case']}/{r['dtype']}" for r in bad))
    return 0


if __name__ == "__main__":
    sys.exit(main())
