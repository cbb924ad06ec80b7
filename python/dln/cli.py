"""The `dln` command (also `python -m dln`): demo, reproduce, run, bench, info.

Every subcommand has ``--help``. Bad input exits with status 2 and one line on stderr saying why;
a failed check (``demo``, ``reproduce``) exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import benchmark
from ._about import build_info
from .config import RunConfig
from .science import demo, reproduce
from .training import train


def _demo(args: argparse.Namespace) -> int:
    return demo.main(args.out, quick=args.quick, seed=args.seed, progress=_bars(args))


def _reproduce(args: argparse.Namespace) -> int:
    return reproduce.main(args.name, out=args.out, quick=args.quick, full=args.full, seed=args.seed,
                          progress=_bars(args))


def _run(args: argparse.Namespace) -> int:
    path = Path(args.config)
    if path.is_dir():
        raise IsADirectoryError(f"config: {path} is a directory, not a config file")
    if not path.is_file():
        raise FileNotFoundError(f"config: no such file: {path}")
    if args.out:  # checked now, not after the run
        out = Path(args.out)
        if out.is_dir():
            raise IsADirectoryError(f"--out: {out} is a directory; name a file in it")
        if not out.parent.is_dir():
            raise FileNotFoundError(f"--out: folder {out.parent} does not exist (or is not a directory)")
    try:
        text = path.read_text()
        cfg = RunConfig.from_json(text) if path.suffix == ".json" else RunConfig.from_toml(text)
        net, problem, kwargs = cfg.build()
    except (ValueError, TypeError, MemoryError) as exc:  # say which file; the message names the field
        kind = next(k for k in (MemoryError, TypeError, ValueError) if isinstance(exc, k))
        raise kind(f"config: {path}: {exc}") from None
    res = train(net, problem, n_threads=args.n_threads, progress=_bars(args), checkpoint=args.checkpoint, **kwargs)
    print(f"{res.status}: {res.steps} steps, final loss {res.final_loss:.6e} ({cfg.reduction}), {res.seconds:.3f} s "
          f"- {res.message}")
    if args.out:
        record = {"config": cfg.to_dict(), "status": res.status, "steps": res.steps, "final_loss": res.final_loss,
                  "seconds": res.seconds, "message": res.message, "record_every": res.record_every,
                  "loss": [float(x) for x in res.loss], "n_threads": res.n_threads}
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0 if res.status in ("converged", "max_steps") else 1


def _bench(args: argparse.Namespace) -> int:
    return benchmark.main(quick=args.quick, n_threads=args.n_threads)


def _info(args: argparse.Namespace) -> int:
    print(json.dumps(build_info(), indent=2))
    return 0


def _bars(args: argparse.Namespace) -> Optional[bool]:
    return False if getattr(args, "no_progress", False) else None


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


SEED = _int_at_least(0)
THREADS = _int_at_least(1)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dln", description="Deep linear networks: exact training, SVD tracking, "
                                "compression, and the published experiments.")
    p.add_argument("--cmakedir", action="store_true",
                   help="print the folder holding dlnConfig.cmake (for CMAKE_PREFIX_PATH / dln_DIR) and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="the law of parsimony three ways: figures and a summary in ~1 minute",
                          description="Theorem figure at d = 30, the same at d = 1000 with tracked SVDs, and "
                          "compressed vs wide factorisation; writes PNGs, summary.json and summary.md.")
    demo.add_argument("--out", default="dln-demo", help="output folder (default: ./dln-demo)")
    demo.add_argument("--quick", action="store_true", help="small sizes (seconds; what the tests run)")
    demo.add_argument("--seed", type=SEED, default=0)
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    rep = sub.add_parser("reproduce", help="run a published experiment (or all) and write its numbers and figures",
                         description="Names: see `dln reproduce list`. Long wide runs are compared with the "
                         "compressed run over a prefix of steps and their time extrapolated, unless --full.")
    rep.add_argument("name", help="experiment name, 'all', or 'list'")
    rep.add_argument("--quick", action="store_true", help="scaled-down sizes (seconds to a minute each)")
    rep.add_argument("--full", action="store_true", help="run long wide trainings to the end")
    rep.add_argument("--out", default="dln-results", help="output folder (default: ./dln-results)")
    rep.add_argument("--seed", type=SEED, default=0)
    rep.add_argument("--no-progress", action="store_true", help="no progress bars")
    rep.set_defaults(func=_reproduce)

    run = sub.add_parser("run", help="train one run described by a RunConfig file (TOML or JSON)",
                         description="CONFIG is a dln.RunConfig in TOML (RunConfig.to_toml) or JSON.")
    run.add_argument("config", help="path to CONFIG.toml or CONFIG.json")
    run.add_argument("--out", help="write status, losses and the config to this JSON file")
    run.add_argument("--checkpoint", help="checkpoint file (resume with dln.resume)")
    run.add_argument("--n-threads", type=THREADS, default=None, help="threads for the products inside a step")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=_run)

    bench = sub.add_parser("bench", help="dense training steps against NumPy and the machine's GEMM rate",
                           description="A short benchmark of this build on this machine; the full benchmarks "
                           "(PyTorch, JAX, batches, tracker, compression) live in the source tree's bench/.")
    bench.add_argument("--quick", action="store_true", help="small sizes only")
    bench.add_argument("--n-threads", type=THREADS, default=None, help="threads (default: all cores)")
    bench.set_defaults(func=_bench)

    info = sub.add_parser("info", help="build and thread information (JSON)")
    info.set_defaults(func=_info)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.cmakedir:
        print(cmake_dir())
        return 0
    if args.command is None:
        p.error("a command is required: demo, reproduce, run, bench or info (dln --help)")
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, KeyError, ImportError, MemoryError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"dln {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dln {args.command}: interrupted", file=sys.stderr)
        return 130


def cmake_dir() -> str:
    """The folder of the installed C++ package's dlnConfig.cmake."""
    return str(Path(__file__).resolve().parent / "lib" / "cmake" / "dln")


if __name__ == "__main__":
    sys.exit(main())
