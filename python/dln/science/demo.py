"""`dln demo`: the law of parsimony seen three ways, with figures and a summary, in about a minute.

1. The theorem setting (d = 30): every singular value of every layer after every step, by full SVD;
   ``d - 2r`` of them sit exactly on the scalar recursion ``rho(t)``.
2. The same at d = 1000 with the SVDs tracked inside the C++ loop (no weights stored, no full SVD):
   bulk singular values against ``rho(t)``, and the bulk singular subspace's angle to step 1.
3. Compressed vs wide factorisation (d = 1000, r = 10, L = 3, eps = 1e-3, lr = 1e3): the wide network
   over a prefix of steps, the compressed one to the published tolerance; the wide time to the same
   step count is extrapolated from its measured time per step.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .._checks import folder as make_folder
from ..network import Network
from ..problems import Factorization, low_rank_target
from ..theory import rho_recursion
from ..tracking import TrackSpec
from ..training import train
from . import plotting
from .experiments import _json, equivalence_dmf, theorem
from .reproduce import FIGURES


@dataclass(frozen=True)
class DemoSizes:
    """Sizes of the three parts; ``quick`` ones run in seconds (the test suite uses them)."""

    theorem_d: int = 30
    theorem_steps: int = 50
    tracked_d: int = 1000
    tracked_rank: int = 3
    tracked_steps: int = 30
    tracked_lr: float = 300.0
    compress_d: int = 1000
    compress_rank: int = 10
    compress_lr: float = 1e3
    wide_prefix: int = 20
    compress_steps: int = 60_000

    @classmethod
    def quick(cls) -> "DemoSizes":
        return cls(theorem_d=30, theorem_steps=20, tracked_d=120, tracked_steps=15,
                   tracked_lr=300.0 * (120 / 1000) ** 1.5,
                   compress_d=100, compress_rank=5, compress_lr=1e3 * 0.1 ** 1.5, wide_prefix=20, compress_steps=60_000)


def run(out: Path, sizes: DemoSizes = DemoSizes(), seed: int = 0, say: Callable[[str], None] = print,
        progress: Any = None) -> dict:
    """Run the demo, write ``theorem.png``, ``tracked.png``, ``compressed.png``, ``summary.json`` and
    ``summary.md`` into ``out``; return the summary (every check is in ``summary["checks"]``)."""
    out = make_folder(out, "out")  # a bad folder fails now, not after the runs
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary: dict = {"seed": seed, "units": "mean-reduced loss; lr in mean units (eta = lr / d^2 in sum units)"}
    checks: dict = {}

    # 1. The theorem figure, from full SVDs of every layer after every step.
    L, r = 3, 3
    t0 = time.perf_counter()
    th = theorem(d=sizes.theorem_d, rank=r, depth=L, eps=1.0, lr=1.0, steps=sizes.theorem_steps, seed=seed)
    worst = float(th.bulk_error[1:].max())
    say(f"[1/3] theorem setting: d = {th.d}, r = {r}, L = {L}, eps = 1, GD lr = 1, {sizes.theorem_steps} steps")
    say(f"      {th.d - 2 * r} of {th.d} singular values of every layer equal rho(t) after every step: "
        f"max deviation {worst:.1e}; the other {2 * r} moved away by >= {th.gap[-1]:.2e}")
    FIGURES["theorem"](th, out)[0].replace(out / "theorem.png")
    summary["theorem"] = {"d": th.d, "rank": r, "depth": L, "steps": sizes.theorem_steps,
                          "max_bulk_minus_rho": worst, "min_moving_gap_at_end": float(th.gap[-1]),
                          "seconds": time.perf_counter() - t0}
    checks["theorem: bulk == rho(t) to 1e-12"] = worst <= 1e-12
    checks["theorem: 2r singular values moved"] = bool(th.gap[-1] > 1e-6)

    # 2. The same at scale, tracked inside the loop.
    d, K = sizes.tracked_d, sizes.tracked_steps
    phi = low_rank_target(d, d, r, seed)
    problem = Factorization(phi)
    net = Network.orthogonal([d] * (L + 1), scale=1.0, seed=seed)
    say(f"[2/3] d = {d}: {K} GD steps (lr = {sizes.tracked_lr:g}), SVD of every layer tracked every step")
    res = train(net, problem, lr=sizes.tracked_lr, steps=K, progress=progress,
                track_svd=TrackSpec(every=1, block_r=r, update_rank=2 * r))
    tr = res.svd
    rho = rho_recursion(1.0, sizes.tracked_lr, L, K, scale=problem.scale)
    bulk = max(float(np.abs(tr.spectra[l][:, r:d - r] - rho[tr.steps][:, None]).max()) for l in range(L))
    middle = float(np.nanmax(tr.angles_right[:, :, 1]))
    t_svd = np.inf
    for _ in range(2):  # the first call pays LAPACK's thread start-up
        t = time.perf_counter()
        np.linalg.svd(res.network._weights[0])
        t_svd = min(t_svd, time.perf_counter() - t)
    say(f"      {res.seconds:.2f} s for {K} tracked steps; one full SVD of one layer takes {t_svd:.2f} s here, "
        f"so full SVDs of {L} layers every step would add ~{t_svd * L * K:.0f} s")
    say(f"      bulk singular values vs rho(t): max deviation {bulk:.1e}; bulk (middle) singular subspace "
        f"vs step 1: largest angle sine {middle:.1e}; certificate <= {float(np.nanmax(tr.certificate)):.1e}")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    plotting.singular_values(tr.spectra[0], steps=tr.steps, rho=rho[tr.steps], top=r, ax=a,
                             title=f"W_1 (d = {d}): top/bottom {r} and one bulk value")
    plotting.angles(tr.angles_right[1:, 0, :], steps=tr.steps[1:], ax=b,
                    title="right singular subspaces of W_1 vs step 1")
    plotting.save(fig, out / "tracked.png")
    summary["tracked"] = {"d": d, "rank": r, "depth": L, "steps": K, "lr": sizes.tracked_lr, "seconds": res.seconds,
                          "max_bulk_minus_rho": bulk, "max_middle_angle_sine": middle,
                          "max_certificate": float(np.nanmax(tr.certificate)), "events": tr.events,
                          "one_full_svd_seconds": t_svd}
    checks["tracked: bulk == rho(t) to 1e-12 (x sigma_1)"] = bulk <= 1e-12 * max(1.0, float(tr.spectra[0].max()))
    checks["tracked: bulk subspace fixed to 1e-10"] = middle <= 1e-10

    # 3. Compressed vs wide (the published DMF equivalence setting), timed end to end.
    d, rc, P, lr = sizes.compress_d, sizes.compress_rank, sizes.wide_prefix, sizes.compress_lr
    say(f"[3/3] factorisation d = {d}, r = {rc}, L = {L}, eps = 1e-3, lr = {lr:g}: compressed to loss 1e-10, "
        f"wide for {P} steps")
    eq = equivalence_dmf(d=d, rank=rc, depth=L, eps=1e-3, lr=lr, tol=1e-10, max_steps=sizes.compress_steps,
                         prefix_steps=P, seed=seed, progress=progress)
    s3 = eq.summary()
    say(f"      compressed: {eq.compressed_status} after {eq.compressed_steps} steps in {eq.compressed_seconds:.2f} s "
        f"(all of it, loop {eq.compressed_loop_seconds:.2f} s; loss {s3['compressed_final_loss']:.2e}); wide: "
        f"{eq.wide_seconds / max(eq.wide_steps, 1) * 1e3:.0f} ms/step, so ~{eq.wide_seconds_estimate:.0f} s for "
        f"the same steps ({s3['speedup']:.0f}x)")
    say(f"      after {eq.wide_steps} steps the wide and the (lifted) compressed end-to-end maps differ by "
        f"{eq.end_to_end_gap:.1e} (relative); losses by {eq.loss_gap:.1e} of the initial loss")
    (out / "compressed.png").unlink(missing_ok=True)
    FIGURES["equivalence_dmf"](eq, out)[0].replace(out / "compressed.png")
    summary["compressed"] = s3
    checks["compressed: reached 1e-10"] = eq.compressed_status == "converged"
    checks["compressed: same end-to-end map as wide over the prefix (1e-10 relative)"] = eq.end_to_end_gap <= 1e-10

    summary["checks"] = checks
    summary = _json(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(_markdown(summary))
    return summary


def _markdown(s: dict) -> str:
    th, tr, c = s["theorem"], s["tracked"], s["compressed"]
    lines = [
        "# dln demo",
        "",
        f"Loss units: {s['units']}. Seed {s['seed']}.",
        "",
        "| part | setting | result |",
        "|---|---|---|",
        f"| theorem (`theorem.png`) | d = {th['d']}, r = {th['rank']}, L = {th['depth']}, {th['steps']} GD steps | "
        f"{th['d'] - 2 * th['rank']} singular values per layer on rho(t) to {th['max_bulk_minus_rho']:.1e} |",
        f"| tracked (`tracked.png`) | d = {tr['d']}, {tr['steps']} steps, SVD tracked every step | bulk vs rho(t) "
        f"{tr['max_bulk_minus_rho']:.1e}, bulk subspace angle sine {tr['max_middle_angle_sine']:.1e}, "
        f"{tr['seconds']:.2f} s (one full SVD: {tr['one_full_svd_seconds']:.2f} s) |",
        f"| compressed (`compressed.png`) | DMF d = {c['d']}, r = {c['rank']}, tol {c['tol']:g} | "
        f"{c['compressed_status']} in {c['compressed_steps']} steps, {c['compressed_seconds']:.2f} s vs "
        f"~{c['wide_seconds_estimate']:.0f} s wide (extrapolated from {c['wide_steps']} steps); end-to-end maps "
        f"agree to {c['end_to_end_gap_relative']:.1e} |",
        "",
        "## Checks",
        "",
    ]
    lines += [f"- {'pass' if ok else 'FAIL'}: {name}" for name, ok in s["checks"].items()]
    return "\n".join(lines) + "\n"


def main(out: str, quick: bool = False, seed: int = 0, progress: Optional[bool] = None) -> int:
    sizes = DemoSizes.quick() if quick else DemoSizes()
    t0 = time.perf_counter()
    summary = run(Path(out), sizes, seed=seed, progress=progress)
    failed = [k for k, ok in summary["checks"].items() if not ok]
    print(f"wrote {Path(out).resolve()}/: theorem.png, tracked.png, compressed.png, summary.json, summary.md "
          f"({time.perf_counter() - t0:.0f} s)")
    if failed:
        print("FAILED checks: " + "; ".join(failed))
        return 1
    print(f"all {len(summary['checks'])} checks passed")
    return 0
