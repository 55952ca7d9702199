"""Load test of ``fromnoise serve``: concurrent generate requests on 127.0.0.1, all answered, memory bounded.

    python bench/bench_web.py                        # trains a tiny class-conditional run first
    python bench/bench_web.py --run runs/fm-class --class sandal --steps 20 -n 8

The page runs in this process on a free loopback port (``build_app`` + ``launch``, as
``fromnoise serve`` does); ``--requests`` clients (threads, gradio_client) each submit one
``/sample`` request at the same moment. Every request must be answered within ``--deadline``
seconds (the page's own queue and per-model lock decide the order), and the resident memory
of the process must stay within ``--max-rss-gb``. Reports p50/p95/max latency and writes
``bench/results/web.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_gb() -> float:
    """Current resident memory of this process, in GB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e9


def _tiny_run(root: Path) -> Path:
    """A micro-preset class-conditional run on a two-colour folder (a few seconds)."""
    from click.testing import CliRunner
    from PIL import Image

    from fromnoise.cli.main import cli

    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (root / "data" / name).mkdir(parents=True)
        for i in range(8):
            img = Image.new("RGB", (16, 16), (240, 240, 240))
            img.paste(colour, (2 + i, 3, 10 + i, 11))
            img.save(root / "data" / name / f"{i}.png")
    out = root / "runs" / "bench"
    res = CliRunner().invoke(cli, ["train", "--dataset", str(root / "data"), "--image-size", "16", "--preset",
                                   "micro", "--condition", "class", "--steps", "5", "--batch-size", "8",
                                   "--num-samples", "2", "--no-progress", "--out", str(out)])
    if res.exit_code:
        sys.exit(res.output)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="Run directory (default: train a tiny one in a temporary folder).")
    ap.add_argument("--class", dest="class_name", default="red", help="Class of every request ('' for none).")
    ap.add_argument("--requests", type=int, default=20, help="Concurrent requests (at most 64).")
    ap.add_argument("--steps", type=int, default=20, help="Sampler steps per request.")
    ap.add_argument("-n", type=int, default=4, help="Images per request.")
    ap.add_argument("--concurrency", type=int, default=4, help="The page's --concurrency.")
    ap.add_argument("--deadline", type=float, default=300.0, help="Seconds by which every answer must be in.")
    ap.add_argument("--max-rss-gb", type=float, default=4.0, help="Bound on the process's resident memory.")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "web.json"))
    args = ap.parse_args()
    if not 1 <= args.requests <= 64:
        sys.exit("--requests must be in [1, 64]")

    from gradio_client import Client

    from fromnoise.web.app import build_app, launch

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    run = Path(args.run) if args.run else _tiny_run(tmp)
    demo = build_app([run], None, [], device="cpu", timeout=args.deadline, concurrency=args.concurrency)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url = launch(demo, "127.0.0.1", port, block=False, quiet=True, max_queue=64)
    client = Client(url, analytics_enabled=False, verbose=False, download_files=False)
    # one warm-up request: loads the model, so the latencies measure generation and queueing
    client.predict(model=run.name, n=1, steps=1, class_name=args.class_name, api_name="/sample")
    rss_before, peak = _rss_gb(), _rss_gb()
    latencies: list[float | None] = [None] * args.requests
    errors: list[str] = []
    go = threading.Barrier(args.requests)

    def one(i: int) -> None:
        go.wait()
        t = time.perf_counter()
        try:
            r = client.predict(model=run.name, n=args.n, steps=args.steps, seed=1000 * i,
                               class_name=args.class_name, api_name="/sample")
            assert len(r["images"]) == args.n
            latencies[i] = time.perf_counter() - t
        except Exception as err:  # reported, and the bench fails below
            errors.append(f"request {i}: {err}")

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(args.requests)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads) and time.perf_counter() - start < args.deadline:
        peak = max(peak, _rss_gb())
        time.sleep(0.05)
    wall = time.perf_counter() - start
    done = sorted(x for x in latencies if x is not None)
    demo.close()

    def pct(p):
        return done[min(len(done) - 1, int(round(p / 100 * (len(done) - 1))))] if done else float("nan")

    result = {"requests": args.requests, "answered": len(done), "errors": errors, "steps": args.steps,
              "images_per_request": args.n, "concurrency": args.concurrency, "wall_s": round(wall, 2),
              "p50_s": round(pct(50), 3), "p95_s": round(pct(95), 3), "max_s": round(done[-1], 3) if done else None,
              "rss_before_gb": round(rss_before, 3), "rss_peak_gb": round(peak, 3),
              "maxrss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
              "cpus": len(os.sched_getaffinity(0)), "load_avg_1min": round(os.getloadavg()[0], 2),
              "run": str(run), "torch_threads": __import__("torch").get_num_threads()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = len(done) == args.requests and not errors and peak <= args.max_rss_gb
    if not ok:
        sys.exit(f"FAILED: {len(done)}/{args.requests} answered, errors {errors[:3]}, peak RSS {peak:.2f} GB")


if __name__ == "__main__":
    main()
