"""Run one command on one corpus entry and judge what it did; tally the results per command.

A command *handles* an entry when it

* exits 0 and, for a bad entry, says "skipped N" (a folder command), or reads an unusual but
  real image without skipping it; or
* exits non-zero with exactly one ``Error:`` line;

and in every case prints no traceback, does not hang (a deadline releases a reader blocked on a
FIFO and fails the test) and leaves every input file as it was.
"""

from __future__ import annotations

import os
import re
import signal
import stat
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from fromnoise.cli.main import cli

from .corpus import snapshot

# command -> case -> True (handled) / False; filled by judge(), printed by summary()
RESULTS: dict[str, dict[str, bool]] = defaultdict(dict)
SKIPPED = re.compile(r"skipped (\d+)")


@dataclass
class Outcome:
    exit_code: int
    output: str
    exception: BaseException | None
    changed: list

    @property
    def skipped(self) -> int:
        """The N of a "skipped N" message, 0 when there is none."""
        return sum(int(m) for m in SKIPPED.findall(self.output))


def _release_fifos(root: Path) -> None:
    """Open every FIFO under ``root`` for writing and close it: a reader blocked on it gets EOF."""
    for dirpath, _, filenames in os.walk(os.fsencode(root)):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if stat.S_ISFIFO(os.lstat(p).st_mode):
                try:
                    os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:  # no reader waiting
                    pass


class Hang(BaseException):
    """Raised by :func:`deadline`; a BaseException, so no ``except OSError`` in the code under test
    can turn it into an ordinary error message (TimeoutError is an OSError)."""


@contextmanager
def deadline(seconds: int, watch: Path):
    """Raise :class:`Hang` after ``seconds``, first unblocking any reader stuck on a FIFO."""
    def expire(signum, frame):
        _release_fifos(watch)
        raise Hang(f"the command did not finish within {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        _release_fifos(watch)  # a reader thread may still wait on one after an error


def run_cli(args: list, watch: Path, seconds: int = 60) -> Outcome:
    """``fromnoise ARGS`` in this process; ``watch`` is the input tree that must stay unchanged.

    ``seconds`` is generous on purpose (a loaded 2-core machine runs these 10x slower than an idle
    one): it only has to tell a hang from a slow run.
    """
    before = snapshot(watch)
    try:
        with deadline(seconds, watch):
            result = CliRunner().invoke(cli, [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args])
    except Hang as hang:
        return Outcome(-1, "", hang, [])
    after = snapshot(watch)
    changed = sorted(set(before.items()) ^ set(after.items()))
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(result.exit_code, result.output, exc, changed)


def judge(command: str, case: str, outcome: Outcome, *, bad: bool, folder: bool,
          must_read: bool = True) -> list[str]:
    """What is wrong with ``outcome`` (empty: handled), recorded in RESULTS[command][case].

    bad: the entry is not an image (must be skipped or refused); folder: the command reads a
    folder (a bad entry may be skipped with a count) rather than one named file; must_read: a
    real image must be accepted (False where a command may refuse it for a stated reason, as
    ``--mask`` refuses a mask of another size than the model's).
    """
    problems = []
    if outcome.exception is not None:
        problems.append(f"raised {type(outcome.exception).__name__}: {outcome.exception}")
    if "Traceback" in outcome.output:
        problems.append("printed a traceback")
    if outcome.changed:
        problems.append(f"modified input files: {outcome.changed[:2]}")
    errors = [line for line in outcome.output.splitlines() if line.startswith("Error:")]
    if outcome.exit_code != 0:
        if len(errors) != 1:
            problems.append(f"exit {outcome.exit_code} with {len(errors)} 'Error:' lines")
        if not bad and must_read:
            problems.append("refused a real (if unusual) image")
    else:
        if errors:
            problems.append("exit 0 but printed an 'Error:' line")
        if bad and folder and not outcome.skipped:
            problems.append("exit 0 without a 'skipped N' count for a bad file")
        if bad and not folder:
            problems.append("exit 0 on input it should refuse")
        if not bad and outcome.skipped:
            problems.append("skipped a real (if unusual) image")
    RESULTS[command][case] = not problems
    return problems


def summary() -> str:
    """The table "handled X of Y" per command, from what the tests recorded."""
    if not RESULTS:
        return ""
    width = max(len(c) for c in RESULTS)
    lines = ["bad-input corpus: handled X of Y per command"]
    for command in sorted(RESULTS):
        cases = RESULTS[command]
        failed = sorted(c for c, ok in cases.items() if not ok)
        lines.append(f"  {command:<{width}}  {sum(cases.values()):>3} of {len(cases):>3}"
                     + (f"   not handled: {', '.join(failed)}" if failed else ""))
    return "\n".join(lines)
