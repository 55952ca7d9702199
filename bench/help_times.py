"""How long each ``fromnoise <command> --help`` and ``import fromnoise`` take (issue 23: every --help < 0.5 s).

Each line runs in a fresh interpreter (the import cost is the point), ``--repeat`` times; the table shows the
median wall-clock seconds. Run from the repository root:

    .venv/bin/python bench/help_times.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, without an install

from fromnoise.cli.main import ALIASES, COMMANDS  # noqa: E402  (light: click only)

LIMIT_S = 0.5  # the promise of issue 23


def timed(argv: list[str]) -> float:
    """Seconds one run of ``argv`` takes; a failing run is an error (a --help must not fail)."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per line (the median is shown)")
    args = parser.parse_args()
    py = sys.executable
    cli = ["-c", "import sys; from fromnoise.cli.main import cli; sys.argv[0] = 'fromnoise'; cli()"]
    rows = [("python -c 'import fromnoise'", [py, "-c", "import fromnoise"]),
            ("fromnoise --help", [py, *cli, "--help"])]
    rows += [(f"fromnoise {name} --help", [py, *cli, name, "--help"]) for name in [*COMMANDS, *ALIASES]]
    width = max(len(label) for label, _ in rows)
    print(f"{'command':<{width}}  median s  (of {args.repeat})")
    slow = []
    for label, argv in rows:
        median = statistics.median(timed(argv) for _ in range(args.repeat))
        flag = "" if median < LIMIT_S or label.startswith("python") else f"  over {LIMIT_S} s"
        if flag:
            slow.append(label)
        print(f"{label:<{width}}  {median:8.2f}{flag}", flush=True)
    if slow:
        print(f"{len(slow)} over {LIMIT_S} s: {', '.join(slow)}")


if __name__ == "__main__":
    main()
