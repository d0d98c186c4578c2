"""Run the benchmarks: `python -m benchmarks` runs all, `python -m benchmarks ingest verify` some.

Each benchmark is a script in this folder with a `main()` that prints its own table,
comparing our pipeline against a naive pandas / one-record-at-a-time approach in the
same run.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    known = available()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmarks (all, or the ones named); each prints its own table.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(known)}"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}")
    names = args.names or known
    for name in names:
        print(f"\n=== benchmark: {name} ===", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        # Benchmarks parse their own options; run each with its defaults.
        saved, sys.argv = sys.argv, [f"benchmarks/{name}.py"]
        try:
            module.main(*([[]] if inspect.signature(module.main).parameters else []))
        finally:
            sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
