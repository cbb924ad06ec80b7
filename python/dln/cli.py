"""The `dln` command: `dln demo`, `dln info`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence


def _demo(args: argparse.Namespace) -> int:

    from .experiments import theorem

    run = theorem(d=args.d, rank=args.rank, depth=args.depth, eps=1.0, lr=1.0, steps=args.steps, seed=args.seed)
    d, r, L = run.d, run.rank, run.depth
    print("dln demo: the law of parsimony (SCIENCE.md 'theorem' setting)")
    print(f"  DMF, target rank {r}, {d}x{d} layers, L = {L}, orthogonal init eps = 1, GD lr = 1, mean loss")
    print(f"  rho(t+1) = rho(t) (1 - (lr/d^2) rho(t)^{2 * (L - 1)})")
    print()
    print(f"  {'step':>4}  {'rho(t)':>18}  {'max|bulk - rho|':>15}  {'min|moving - rho|':>17}  moving singular values of W_1")
    for t in range(1, run.rho.size):
        if t <= 3 or t % 10 == 0 or t == run.rho.size - 1:
            mv = " ".join(f"{v:.4f}" for v in run.moving[t, 0][::-1])
            print(f"  {t:>4}  {run.rho[t]:>18.15f}  {run.bulk_error[t]:>15.2e}  {run.gap[t]:>17.2e}  {mv}")
    worst = run.bulk_error[1:].max()
    ok = worst <= 1e-12 and run.gap[-1] > 1e-6
    print()
    print(f"  {d - 2 * r} of {d} singular values of every layer equal rho(t) after every step: "
          f"max deviation {worst:.1e} (<= 1e-12: {'yes' if worst <= 1e-12 else 'NO'})")
    print(f"  the other {2 * r} moved away from rho by at least {run.gap[-1]:.2e} at step {run.rho.size - 1} "
          f"(> 1e-6: {'yes' if run.gap[-1] > 1e-6 else 'NO'})")
    return 0 if ok else 1


def _info(args: argparse.Namespace) -> int:
    from . import build_info

    print(json.dumps(build_info(), indent=2))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="dln", description="Deep linear networks: training, SVD tracking, compression.")
    parser.add_argument("--cmakedir", action="store_true",
                        help="print the folder holding dlnConfig.cmake (for CMAKE_PREFIX_PATH / dln_DIR) and exit")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="the law of parsimony, checked step by step")
    demo.add_argument("--d", type=int, default=30)
    demo.add_argument("--rank", type=int, default=3)
    demo.add_argument("--depth", type=int, default=3)
    demo.add_argument("--steps", type=int, default=50)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    info = sub.add_parser("info", help="build and thread information")
    info.set_defaults(func=_info)
    args = parser.parse_args(argv)
    if args.cmakedir:
        print(cmake_dir())
        return 0
    if args.command is None:
        parser.error("a command is required (demo, info)")
    return args.func(args)


def cmake_dir() -> str:
    """The folder of the installed C++ package's dlnConfig.cmake."""
    from pathlib import Path

    return str(Path(__file__).resolve().parent / "lib" / "cmake" / "dln")


if __name__ == "__main__":
    sys.exit(main())
