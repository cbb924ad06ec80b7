"""Every case of issue "Speed" in one command: dln beside NumPy, PyTorch and JAX (CPU), one table.

    python bench/run_all.py                      # full run, about 10-15 minutes on 2 cores
    python bench/run_all.py --quick              # smoke run, small sizes (< 2 minutes), into /tmp
    python bench/run_all.py --render bench/results/2026-01-31-intel-xeon-processor.json

A run writes `<out>/<date>-<cpu>.json` (every sample, check and setting; `-quick` before `.json` for
a --quick run) and `<out>/<date>-<cpu>.png` (time per dense step against d, log-log, dln and each
peer), and prints the table. `--render` writes the table of a results file into README.md between
the `bench-table` markers (the table is generated, never typed) and prints it.

Thread pools are fixed when NumPy, PyTorch and JAX load, so each thread count runs in its own worker
subprocess (this file with `--worker T`), which pins every library to T threads before importing
it (`common.configure_threads`). Within a case, repeats are interleaved round-robin across the
libraries (`common.time_runners`) and medians count. Every peer's result is checked against dln's
(float64, relative 1e-9); a mismatch is marked in the table and the run exits with status 1.

The cases reuse the implementations of bench_dense.py (dense and regression steps), bench_batch.py
(batched and tiny nets), bench_compress.py (compressed factorisation and completion) and
bench_tracker.py (tracking overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402  (stdlib only at import time)

README = os.path.join(os.path.dirname(HERE), "README.md")
MARKERS = ("<!-- bench-table:start -->", "<!-- bench-table:end -->")
CASE_MARK = "@@RUN_ALL_CASE@@ "
INFO_MARK = "@@RUN_ALL_INFO@@ "
SCHEMA = 1
TOL = 1e-9  # relative, float64: every peer against dln

# Goals of issue "Speed": (kind, reference, bound, text). "ratio": dln's time over the reference's
# ("best": the fastest peer variant; a library name: that library's fastest variant) at most
# `bound`; "value": dln's headline number (seconds, or the overhead fraction) at most `bound`.
GOALS = {
    "dense-2t": ("ratio", "best", 0.95, "<= 0.95 x best peer"),
    "dense-1t": ("ratio", "best", 0.95, "<= 0.95 x best peer"),
    "regression": ("ratio", "best", 0.95, "<= 0.95 x best peer"),
    "batch-1": ("ratio", "jax", 0.33, "<= 0.33 x JAX vmap"),
    "batch-10": ("ratio", "jax", 0.33, "<= 0.33 x JAX vmap"),
    "tiny": ("value", None, 0.35e-6, "<= 0.35 us/step"),
    "completion": ("value", None, 6.0, "<= 6 s total"),
    "tracking": ("value", None, 0.10, "<= +10%"),
    "compressed": ("value", None, 0.1, "<= 0.1 s total"),
}


def sizes(quick: bool) -> dict:
    """Every size, step count and repeat count of a run (recorded in the results file)."""
    if quick:
        return dict(repeats=3, sweep=[50, 100, 200], dense_steps={50: 10, 100: 6, 200: 3},
                    sweep_repeats=3, reg=(128, 512), reg_steps=3, batch_nets=64, batch_calls=10,
                    batch10_calls=2, tiny_steps=10_000, tiny_np_steps=2_000,
                    completion=(400, 300, 10), compressed_d=400, compressed_repeats=2,
                    tracking=(400, 2, 2), gemm_repeats=5)
    return dict(repeats=5, sweep=[125, 250, 500, 1000], dense_steps={125: 20, 250: 16, 500: 8, 1000: 4},
                sweep_repeats=3, reg=(512, 2048), reg_steps=5, batch_nets=256, batch_calls=20,
                batch10_calls=3, tiny_steps=100_000, tiny_np_steps=20_000,
                completion=(1000, 60_000, 100), compressed_d=1000, compressed_repeats=5,
                tracking=(2000, 3, 3), gemm_repeats=15)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (smoke run)")
    p.add_argument("--out", default=None,
                   help="folder for the results JSON and figure (default bench/results; with --quick "
                        "TMPDIR/dln-bench-quick, so that smoke runs never land in the repository)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats of the main cases (default 5; quick 3)")
    p.add_argument("--cases", default=None,
                   help="comma-separated subset of: gemm, dense, regression, batch, tiny, completion, "
                        "compressed, tracking (default all)")
    p.add_argument("--threads", default="2,1",
                   help="worker thread counts, in order (default 2,1: the machine's cores and one)")
    p.add_argument("--render", metavar="JSON", default=None,
                   help="write the table of this results file into the README and exit")
    p.add_argument("--readme", default=README, help="the README --render edits (default README.md)")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # internal
    a = p.parse_args(argv)
    groups = {"gemm", "dense", "regression", "batch", "tiny", "completion", "compressed", "tracking"}
    a.cases = groups if a.cases is None else {c.strip() for c in a.cases.split(",") if c.strip()}
    if not a.cases <= groups:
        p.error(f"--cases: unknown {sorted(a.cases - groups)}; expected a subset of {sorted(groups)}")
    a.threads = [int(t) for t in a.threads.split(",")]
    if a.out is None:
        a.out = (os.path.join(tempfile.gettempdir(), "dln-bench-quick") if a.quick
                 else os.path.join(HERE, "results"))
    return a


# ==============================================================================================
# Worker: one thread count, every case assigned to it; one JSON line per case on stdout.


def emit(mark: str, obj: dict) -> None:
    print(mark + json.dumps(obj), flush=True)


def lib_of(label: str) -> str:
    return re.split(r"[\[ ]", label, maxsplit=1)[0]


def dense_record(cid, title, T, res, extra) -> dict:
    dln_label = res["dln"].label
    times = res["times"]
    return {"id": cid, "title": title, "threads": T, "kind": "step",
            "dln": {"label": dln_label, "samples": times[dln_label]},
            "peers": {k: {"lib": lib_of(k), "samples": v} for k, v in times.items() if k != dln_label},
            "check": {"tol": res["tol"], "rel": res["rel"],
                      "what": "final loss (float64 reference, data form) vs dln's"},
            "extra": dict(extra, gemm_gflops=res["gemm"], flops_per_step=res["flops"],
                          start_loss=res["start"], final_loss=res["final"][dln_label])}


def worker(args: argparse.Namespace, T: int) -> None:
    note = common.configure_threads(T)  # before numpy/torch/jax load their pools
    import bench_dense as bd
    bd.setup(T, configure=False)
    import bench_batch as bb
    bb.load_libs(T, configure=False)
    import numpy as np

    import dln

    S = sizes(args.quick)
    R = args.repeats or S["repeats"]
    emit(INFO_MARK, {"T": T, "thread_note": note, "load_start": list(os.getloadavg()),
                     "versions": dict(bb.versions(), jaxlib=_version("jaxlib"),
                                      threadpoolctl=_version("threadpoolctl"),
                                      scipy=_version("scipy")),
                     "build_info": {k: str(v) for k, v in dln.build_info().items()},
                     "jax_devices": [str(x) for x in bb.jax.devices()]})
    gemm = common.gemm_gflops(np.float64, 1000, S["gemm_repeats"])
    todo = args.cases
    thr = f"{T} thread{'s' * (T > 1)}"
    # The multi-threaded cases run in the widest worker, the tiny net in the narrowest; GEMM and
    # the dense steps in every one.
    widest, narrowest = T == max(args.threads), T == min(args.threads)

    def case(cid, fn):
        t0 = time.perf_counter()
        print(f"\n#### {cid} ({thr})", flush=True)
        try:
            rec = fn()
        except Exception as e:  # noqa: BLE001  (one broken case must not cost the others)
            traceback.print_exc()
            rec = {"id": cid, "title": cid, "threads": T, "error": f"{type(e).__name__}: {e}"}
        rec["seconds"] = time.perf_counter() - t0
        rec["load_end"] = list(os.getloadavg())
        emit(CASE_MARK, rec)

    if "gemm" in todo:
        case(f"gemm-{T}t", lambda: {
            "id": f"gemm-{T}t", "title": f"GEMM rate (NumPy 1000x1000), {thr}",
            "threads": T, "kind": "info", "dln": None,
            "peers": {"numpy matmul": {"lib": "numpy", "gflops": gemm}}, "check": None, "extra": {}})

    if "dense" in todo:
        main_d = S["sweep"][-1]
        for d in S["sweep"]:
            steps = S["dense_steps"][d]
            is_main = d == main_d

            def run(d=d, steps=steps, is_main=is_main):
                spec = common.factorization_spec(d, 3, 10, "float64", steps)
                res = bd.run_case(spec, R if is_main else S["sweep_repeats"], {"float64": gemm},
                                  marginal=False, yardstick=is_main)
                cid = f"dense-{T}t" if is_main else f"dense-d{d}-{T}t"
                return dict(dense_record(cid, f"dense step d={d} L=3, {thr}", T, res,
                                         {"d": d, "L": 3, "steps": steps}),
                            sweep=True)
            case(f"dense-{T}t" if is_main else f"dense-d{d}-{T}t", run)

    if "regression" in todo and widest:
        d, N = S["reg"]

        def run_reg():
            spec = common.regression_spec(d, N, 4, "float64", S["reg_steps"])
            res = bd.run_case(spec, R, {"float64": gemm}, marginal=False, forms=["covariance"])
            return dense_record("regression", f"regression (covariance) d={d} N={N} L=4, {thr}", T, res,
                                {"d": d, "N": N, "L": 4, "steps": S["reg_steps"]})
        case("regression", run_reg)

    if "batch" in todo and widest:
        data = bb.BatchData(n=S["batch_nets"])
        for cid, steps, calls in (("batch-1", 1, S["batch_calls"]), ("batch-10", 10, S["batch10_calls"])):
            def run_batch(cid=cid, steps=steps, calls=calls):
                b = bb.batch_case(data, steps, calls, R, T)
                ref = b["losses"]["dln train_batch"]
                rel = {k: max(abs(x - y) / abs(y) for x, y in zip(v, ref)) for k, v in b["losses"].items()}
                print(common.fmt_table(
                    ["impl", "median/step", "min/step", "max rel loss vs dln"],
                    [[k, fmt_time(common.median(v)), fmt_time(min(v)), f"{rel[k]:.1e}"]
                     for k, v in b["times"].items()]), flush=True)
                return {"id": cid, "title": f"batch {S['batch_nets']} nets d={bb.D} L={bb.L}, {steps} "
                        f"step{'s' * (steps > 1)}/call, {thr}", "threads": T, "kind": "step",
                        "dln": {"label": "dln train_batch", "samples": b["times"]["dln train_batch"]},
                        "peers": {k: {"lib": lib_of(k), "samples": v} for k, v in b["times"].items()
                                  if k != "dln train_batch"},
                        "check": {"tol": TOL, "rel": rel,
                                  "what": f"max over the {S['batch_nets']} nets of the relative "
                                          "difference of the final loss (float64 reference) to dln's"},
                        "extra": {"steps_per_call": steps, "calls_per_sample": calls,
                                  "jax_compile_s": b["jax_compile_s"], "status": b["status"]}}
            case(cid, run_batch)

    if "tiny" in todo and narrowest:
        def run_tiny():
            t = bb.tiny_case(S["tiny_steps"], S["tiny_np_steps"], R)
            dl = "dln train (n_threads=1)"
            print(common.fmt_table(["impl", "median us/step", "min us/step"],
                                   [[k, f"{common.median(v) * 1e6:.3f}", f"{min(v) * 1e6:.3f}"]
                                    for k, v in t["times"].items()]), flush=True)
            return {"id": "tiny", "title": f"tiny net d={bb.TINY_D} L={bb.L}, {thr}",
                    "threads": T, "kind": "step", "dln": {"label": dl, "samples": t["times"][dl]},
                    "peers": {k: {"lib": lib_of(k), "samples": t["times"][k]}
                              for k in ("jax jit fori_loop", "numpy python loop")},
                    "check": {"tol": TOL, "rel": t["check_rel"], "what": f"final loss after "
                              f"{t['check_steps']} steps vs dln's"},
                    "extra": {"steps": t["steps"], "result_seconds_per_step":
                              t["times"]["dln train (result.seconds)"][0]}}
        case("tiny", run_tiny)

    import bench_compress as bc  # numpy and dln are loaded by now, under this worker's threads

    if "completion" in todo and widest:
        def run_completion():
            d, cap, peer_steps = S["completion"]
            c = bc.completion_case(d=d, steps=cap, peer_steps=peer_steps, repeats=R, n_threads=T)
            capped = args.quick and c["status"] != "converged"
            print(f"  run to loss 1e-12: {c['status']} after {c['steps']} steps, {c['total_s']:.2f} s total "
                  f"({fmt_time(c['per_step_s'])}/step), final loss {c['final_loss']:.3g}, recovery "
                  f"{c['recovery']:.3g}" + (" (quick: step cap)" if capped else ""))
            print(common.fmt_table(["impl", "median/step", "min/step", "rel end-to-end vs dln"],
                                   [[k, fmt_time(common.median(v)), fmt_time(min(v)), f"{c['rel'][k]:.1e}"]
                                    for k, v in c["times"].items()]), flush=True)
            return {"id": "completion", "title": f"compressed completion d={d} r=5 20% obs. L=3 to 1e-12, "
                    f"{thr}", "threads": T, "kind": "total",
                    "dln": {"label": "dln[sparse]", "samples": c["times"]["dln[sparse]"],
                            "value": c["total_s"], "per_step": c["per_step_s"]},
                    "peers": {k: {"lib": lib_of(k), "samples": v} for k, v in c["times"].items()
                              if k != "dln[sparse]"},
                    "check": {"tol": TOL, "rel": c["rel"], "what": f"end-to-end matrix after "
                              f"{c['peer_steps']} steps vs dln's sparse path (relative Frobenius)"},
                    "extra": {k: c[k] for k in ("steps", "status", "final_loss", "recovery", "peer_steps")}
                    | {"capped": capped, "step_cap": cap, "d": d}}
        case("completion", run_completion)

    if "compressed" in todo and widest:
        def run_compressed():
            c = bc.factorisation_case(d=S["compressed_d"], repeats=S["compressed_repeats"])
            dl = "dln train_compressed"
            print(common.fmt_table(["impl", "median s/run", "per step", "rel end-to-end vs dln"],
                                   [[k, f"{common.median(v):.4f}", fmt_time(c["per_step"][k]),
                                     f"{c['rel'][k]:.1e}"] for k, v in c["times"].items()]), flush=True)
            print(f"  {c['status']} after {c['steps']} steps, wide loss {c['final_loss']:.3g}, path "
                  f"{c['path']}; wide Haar init {c['init_s']:.2f} s (not counted)", flush=True)
            return {"id": "compressed", "title": f"compressed factorisation d={S['compressed_d']} r=10 L=3 "
                    f"to 1e-10, {thr}", "threads": T,
                    "kind": "total",
                    "dln": {"label": dl, "samples": c["loop_per_step"],
                            "value": common.median(c["times"][dl]), "per_step": c["per_step"][dl]},
                    "peers": {k: {"lib": lib_of(k), "samples": [x / c["steps"] for x in v]}
                              for k, v in c["times"].items() if k != dl},
                    "check": {"tol": TOL, "rel": c["rel"], "what": "end-to-end product of the L inner "
                              "2r x 2r factors after the same steps vs dln's (relative Frobenius)"},
                    "extra": {k: c[k] for k in ("steps", "status", "final_loss", "init_s", "path")}
                    | {"run_samples_s": c["times"][dl]}}
        case("compressed", run_compressed)

    if "tracking" in todo and widest:
        import bench_tracker as bt

        d, steps, reps = S["tracking"]

        def run_tracking():
            t = bt.run_overhead(d, 3, steps, T, reps, check_svd=True, strict=False)
            ok_w = t["identical"] and not t["events"]
            return {"id": "tracking", "title": f"track_svd every step d={d} L=3, {thr}",
                    "threads": T, "kind": "overhead",
                    "dln": {"label": "dln tracked", "samples": t["tracked"], "value": t["overhead"],
                            "plain": t["plain"]},
                    "peers": {},
                    "check": {"tol": TOL, "rel": {"numpy.linalg.svd": t["sv_rel"]},
                              "ok_extra": ok_w,
                              "what": "tracked spectrum of the last layer vs numpy.linalg.svd of its final "
                                      "weights (max difference / sigma_1); tracked weights bitwise equal "
                                      "to plain, no tracker events"},
                    "extra": {"d": d, "steps": steps, "repeats": reps, "events": t["events"],
                              "identical": t["identical"]}}
        case("tracking", run_tracking)

    emit(INFO_MARK, {"T": T, "pools": common.blas_lines(), "gemm_gflops": gemm,
                     "load_end": list(os.getloadavg())})


def _version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return "not installed"


# ==============================================================================================
# Evaluation and the table (shared by a run and --render)


def fmt_time(s) -> str:
    if s is None or s != s:
        return "n/a"
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):  # us below 1 us too: the tiny goal's unit
        if abs(s) >= f or unit == "us":
            v = s / f
            return f"{v:.3g} {unit}" if abs(v) < 100 else f"{v:.0f} {unit}"
    return f"{s:.3g} s"


def evaluate(rec: dict) -> dict:
    """Medians, the best peer, the ratio, the goal and the check verdict of one case, in place."""
    if rec.get("error") or rec.get("kind") == "info":
        return rec
    for p in rec["peers"].values():
        p["value"] = common.median(p["samples"])
        p["min"] = min(p["samples"])
    dl = rec["dln"]
    dl.setdefault("value", common.median(dl["samples"]))
    dl["median_step"] = common.median(dl["samples"])
    dl["min"] = min(dl["samples"])
    peers = rec["peers"]
    best = min(peers, key=lambda k: peers[k]["value"]) if peers else None
    rec["best_peer"] = best
    rec["ratio"] = dl["median_step"] / peers[best]["value"] if best else None
    chk = rec["check"]
    if chk is not None:
        worst = max(chk["rel"].values(), default=0.0)
        chk["max_rel"] = worst
        chk["ok"] = bool(worst <= chk["tol"]) and chk.get("ok_extra", True)
    goal = GOALS.get(rec["id"])
    if goal:
        kind, ref, bound, text = goal
        rec["goal"] = {"kind": kind, "vs": ref, "max": bound, "text": text}
        if kind == "ratio":
            if ref != "best":
                cands = [k for k in peers if peers[k]["lib"] == ref]
                ref_label = min(cands, key=lambda k: peers[k]["value"]) if cands else None
            else:
                ref_label = best
            r = dl["median_step"] / peers[ref_label]["value"] if ref_label else None
            rec["goal"].update(ref_label=ref_label, ratio=r)
            rec["met"] = None if r is None else bool(r <= bound)
        else:
            rec["met"] = bool(dl["value"] <= bound)
            if rec["id"] == "completion" and rec["extra"]["status"] != "converged":
                rec["met"] = None if rec["extra"].get("capped") else False
    return rec


def table_rows(results: dict) -> list[list[str]]:
    rows = []
    for rec in results["cases"]:
        if rec.get("sweep") and rec["id"] not in GOALS:
            continue  # sweep points: the figure
        if rec.get("error"):
            rows.append([rec["title"], "ERROR", rec["error"][:60], "", "", ""])
            continue
        if rec["kind"] == "info":
            (label, p), = rec["peers"].items()
            rows.append([rec["title"], "-", f"{label} {p['gflops']:.1f} GFLOP/s", "-", "-", "-"])
            continue
        dl, peers, best = rec["dln"], rec["peers"], rec["best_peer"]
        if rec["kind"] == "step":
            dcell = f"{fmt_time(dl['value'])}/step"
            if "result_seconds_per_step" in rec["extra"]:  # tiny: the C++ loop's own clock beside
                dcell += f" (loop alone {fmt_time(rec['extra']['result_seconds_per_step'])})"
        elif rec["kind"] == "total":
            ex = rec["extra"]
            dcell = f"{fmt_time(dl['value'])} total, {ex['steps']} steps, {fmt_time(dl['per_step'])}/step"
            if ex.get("capped"):
                dcell += f" (capped at {ex['step_cap']} steps)"
            elif ex["status"] != "converged":
                dcell += f" ({ex['status']})"
        else:  # overhead
            dcell = (f"{100 * dl['value']:+.1f}% ({fmt_time(common.median(dl['samples']))}/step vs "
                     f"{fmt_time(common.median(dl['plain']))})")
        pcell = f"{best} {fmt_time(peers[best]['value'])}/step" if best else "-"
        ratio = f"{rec['ratio']:.2f}" if rec.get("ratio") is not None else "-"
        if rec["kind"] == "total" and best:
            ratio += " per step"
        goal = rec.get("goal")
        gcell = goal["text"] if goal else "-"
        if goal and goal["kind"] == "ratio" and goal["vs"] != "best" and goal["ref_label"] != best:
            gcell += f" (now {goal['ratio']:.2f})"
        met = {True: "yes", False: "no", None: "n/a"}[rec.get("met")] if goal else "-"
        if rec["check"] is not None and not rec["check"]["ok"]:
            met += f" **MISMATCH** (rel {rec['check']['max_rel']:.1e})"
        rows.append([rec["title"], dcell, pcell, ratio, gcell, met])
    return rows


def header_lines(results: dict) -> list[str]:
    m, v = results["machine"], results["versions"]
    load = lambda xs: "/".join(f"{x:.1f}" for x in xs)  # noqa: E731
    return [
        f"{results['date']}, {m['cpu']} ({m['logical_cpus']} logical CPUs, {m['usable_cpus']} usable), "
        f"{m['system']}; load {load(m['load_start'])} at start, {load(m['load_end'])} at end (1/5/15 min)"
        + ("; **--quick sizes**" if results["quick"] else ""),
        f"python {v.get('python')}, numpy {v.get('numpy')}, torch {v.get('torch')}, jax {v.get('jax')} "
        f"(jaxlib {v.get('jaxlib')}), dln {v.get('dln')} ({results.get('dln_gemm', '?')}); float64; "
        f"medians of {results['sizes']['repeats']} interleaved repeats; {results['wall_s'] / 60:.1f} min",
    ]


NOTES = (
    "Times are medians of interleaved repeats; `best peer` is the fastest variant of NumPy, PyTorch "
    "and JAX (CPU) on the same maths from the same start, and `dln/peer` is dln's time per step over "
    "its. Compressed rows: `dln` is the whole `train_compressed` call to the tolerance (compression "
    "setup included, the wide network's init not), `dln/peer` compares time per step with peers "
    "running the same compressed chain. Tracking: the loop's own time with `track_svd` every step "
    "over without. Every peer's result is checked against dln's (relative 1e-9); a failed check "
    "shows as MISMATCH. Details, samples and settings: the results file; bench/README.md.")


def markdown(results: dict, source: str) -> str:
    rows = table_rows(results)
    head = ["case", "dln", "best peer", "dln/peer", "goal", "met?"]
    machine, software = header_lines(results)
    out = [f"Generated by `python bench/run_all.py --render {source}`, from a run on {machine}.",
           software + ".", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    out += ["", NOTES]
    return "\n".join(out)


def render(path: str, readme: str) -> int:
    with open(path) as f:
        results = json.load(f)
    rel = os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(readme)))
    md = markdown(results, rel)
    with open(readme) as f:
        text = f.read()
    a, b = text.find(MARKERS[0]), text.find(MARKERS[1])
    if a < 0 or b < a:
        sys.exit(f"{readme}: markers {MARKERS[0]} ... {MARKERS[1]} not found")
    text = text[:a + len(MARKERS[0])] + "\n" + md + "\n" + text[b:]
    tmp = readme + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, readme)
    print(md)
    print(f"\nwritten between the markers of {readme}")
    return 0


def figure(results: dict, path: str) -> bool:
    """Time per dense step against d, one panel per thread count; False when no sweep ran."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ts = sorted({r["threads"] for r in results["cases"] if r.get("sweep") and not r.get("error")},
                reverse=True)
    if not Ts:
        return False
    fig, axes = plt.subplots(1, len(Ts), figsize=(5.5 * len(Ts), 4.2), squeeze=False, sharey=True)
    styles = {"dln": dict(color="k", lw=2.2, marker="o"), "numpy": dict(color="C0", marker="s"),
              "torch": dict(color="C3", marker="^"), "jax": dict(color="C2", marker="D")}
    for ax, T in zip(axes[0], Ts):
        pts = sorted((r for r in results["cases"] if r.get("sweep") and r["threads"] == T
                      and not r.get("error")), key=lambda r: r["extra"]["d"])
        ds = [r["extra"]["d"] for r in pts]
        series = {"dln": [r["dln"]["value"] for r in pts]}
        for lib in ("numpy", "torch", "jax"):
            ys = [min((p["value"] for p in r["peers"].values() if p["lib"] == lib), default=None)
                  for r in pts]
            if any(y is not None for y in ys):
                series[lib] = ys
        for lib, ys in series.items():
            xy = [(x, y) for x, y in zip(ds, ys) if y is not None]
            ax.plot(*zip(*xy), label=lib + (" (fastest variant)" if lib != "dln" else ""),
                    **styles[lib])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ds, [str(d) for d in ds])
        ax.minorticks_off()
        ax.set_xlabel("d (layers d x d, L = 3, rank-10 target)")
        ax.set_title(f"{T} thread{'s' * (T > 1)}")
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("seconds per GD step (median)")
    axes[0][0].legend()
    fig.suptitle(f"dense factorisation step, float64 - {results['machine']['cpu']}, {results['date']}"
                 + (" (--quick)" if results["quick"] else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ==============================================================================================
# Driver


def cpu_slug(cpu: str) -> str:
    s = re.sub(r"\((r|tm)\)|\bcpu\b|@.*$", " ", cpu.lower())
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "cpu"


def isa_slug(simd: str) -> str:
    """The widest vector instruction set dln was built for (its ``build_info()["simd"]``): one CPU name
    ("AMD EPYC", say, in a virtual machine) covers machines whose kernels differ."""
    for isa in ("avx512", "avx2", "avx"):
        if isa in simd.lower().replace("-", ""):
            return isa
    return "sse"


def run_worker(args: argparse.Namespace, T: int, log) -> tuple[list, list]:
    cmd = [sys.executable, "-u", os.path.abspath(__file__), "--worker", str(T),
           "--threads", ",".join(map(str, args.threads)), "--cases", ",".join(sorted(args.cases))]
    cmd += (["--quick"] if args.quick else []) + (["--repeats", str(args.repeats)] if args.repeats else [])
    cases, infos = [], []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in proc.stdout:
        if line.startswith(CASE_MARK):
            cases.append(json.loads(line[len(CASE_MARK):]))
        elif line.startswith(INFO_MARK):
            infos.append(json.loads(line[len(INFO_MARK):]))
            if "versions" in infos[-1]:
                log(f"[T={T}] {infos[-1]['thread_note']}")
                log(f"[T={T}] versions: " + ", ".join(f"{k} {v}" for k, v in infos[-1]["versions"].items()))
        else:
            log(f"[T={T}] {line.rstrip()}")
    rc = proc.wait()
    if rc != 0:
        log(f"[T={T}] WORKER EXITED WITH STATUS {rc}; its finished cases are kept")
    return cases, infos


def main() -> int:
    args = parse_args()
    if args.worker is not None:
        worker(args, args.worker)
        return 0
    if args.render:
        return render(args.render, args.readme)

    t_start = time.time()
    cpu = common.cpu_model()
    date = time.strftime("%Y-%m-%d")
    print("bench/run_all.py: issue 'Speed', every case" + (" (--quick)" if args.quick else ""))
    print(f"command : {' '.join([sys.executable] + sys.argv)}")
    for line in common.machine_lines(args.threads[0], "one worker process per thread count: "
                                     + ", ".join(map(str, args.threads))):
        print(line)
    load_start = list(os.getloadavg())

    cases, infos = [], {}
    for T in args.threads:
        t0 = time.time()
        c, inf = run_worker(args, T, print)
        cases += c
        infos[T] = {k: v for i in inf for k, v in i.items()}
        print(f"worker T={T}: {len(c)} cases in {time.time() - t0:.0f} s")
    for rec in cases:
        evaluate(rec)

    first = infos[args.threads[0]] if infos else {}
    results = {
        "schema": SCHEMA, "date": date, "quick": args.quick, "command": sys.argv,
        "wall_s": time.time() - t_start, "tol": TOL, "sizes": sizes(args.quick)
        | ({"repeats": args.repeats} if args.repeats else {}),
        "machine": {"cpu": cpu, "logical_cpus": os.cpu_count(),
                    "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count(),
                    "system": f"{os.uname().sysname} {os.uname().release}",
                    "load_start": load_start, "load_end": list(os.getloadavg())},
        "versions": dict(first.get("versions", {}), matplotlib=_version("matplotlib")),
        "dln_gemm": first.get("build_info", {}).get("gemm_backend_config", "?"),
        "workers": {str(T): i for T, i in infos.items()},
        "cases": cases,
    }
    os.makedirs(args.out, exist_ok=True)
    isa = isa_slug(first.get("build_info", {}).get("simd", ""))
    stem = os.path.join(args.out, f"{date}-{cpu_slug(cpu)}-{isa}" + ("-quick" if args.quick else ""))
    with open(stem + ".json", "w") as f:
        json.dump(results, f, indent=1)
    try:
        fig_note = stem + ".png" if figure(results, stem + ".png") else "none (no dense case in this run)"
    except Exception as e:  # noqa: BLE001  (the numbers matter more than the picture)
        fig_note = f"no figure ({type(e).__name__}: {e})"

    print()
    for line in header_lines(results):
        print(line)
    for T, i in infos.items():
        print(f"worker T={T}: {i.get('thread_note')}; NumPy GEMM "
              f"{i.get('gemm_gflops', float('nan')):.1f} GFLOP/s")
        for line in i.get("pools", []):
            print(f"    {line}")
    print()
    print(common.fmt_table(["case", "dln", "best peer", "dln/peer", "goal", "met?"], table_rows(results)))
    bad = [r for r in cases if r.get("error") or (r.get("check") and not r["check"]["ok"])]
    for r in bad:
        if r.get("error"):
            why = r["error"]
        else:
            c = r["check"]
            why = (f"MISMATCH: {c['what']}: max rel {c['max_rel']:.1e} > {c['tol']:.0e} ("
                   + ", ".join(f"{k} {v:.1e}" for k, v in c["rel"].items()) + ")"
                   + ("" if c.get("ok_extra", True) else "; tracking changed the weights or raised events"))
        print(f"!!! {r['id']}: {why}")
    shown = os.path.relpath(stem + ".json")
    shown = shown if not shown.startswith("..") else stem + ".json"
    print(f"\nresults: {stem}.json\nfigure : {fig_note}\nREADME : python bench/run_all.py --render {shown}")
    print(f"wall    : {time.time() - t_start:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
