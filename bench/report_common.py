"""What the report's section builders share: a result's JSON by name and the line that says how it ran."""

from __future__ import annotations

import json

from bench.common import RESULTS


def load_result(name: str) -> dict | None:
    """bench/results/NAME.json, or None when that bench has not run."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def run_note(res: dict) -> str:
    """When a result ran, on how many threads, which torch, the load at its end."""
    m = res.get("machine", {})
    load = m.get("load_avg")
    return (f"Run {res.get('time', '?')}, {m.get('threads', '?')} thread(s), torch {m.get('torch', '?')}"
            + (f", load average {load[0]:.1f} at the end" if load else "") + ".")
