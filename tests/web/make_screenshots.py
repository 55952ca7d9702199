"""The README's screenshots of the page, from a real model (not a test; pytest does not collect it).

    OMP_NUM_THREADS=1 fromnoise train --dataset fashion-mnist --preset fashion --condition class \\
        --minutes 8 --out /tmp/fm-class
    .venv/bin/python tests/web/make_screenshots.py /tmp/fm-class docs/images

Serves the run on loopback, drives Debian's chromium with playwright as the browser tests do
(tests/web/conftest.py), and writes web_generate.png (a class chosen, images generated) and
web_learn.png (forward process, reverse animation, attention, embeddings), each reduced to an
adaptive palette when it would exceed 300 KB.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.web.test_web_page import choose, generate, set_number, tab  # noqa: E402

LIMIT = 300_000


def small(path: Path) -> int:
    """Keep the PNG under LIMIT bytes: 256, then fewer, palette colours."""
    for colours in (None, 256, 128, 64):
        if colours:
            img = Image.open(path).convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT)
            img.save(path, optimize=True)
        if path.stat().st_size < LIMIT:
            break
    return path.stat().st_size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("out", nargs="?", default="docs/images")
    parser.add_argument("--class", dest="cls", default="Ankle boot")
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from fromnoise.web.app import build_app, launch

    out = Path(args.out)
    demo = build_app([args.run], None, (), device="cpu", timeout=600, concurrency=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url = launch(demo, "127.0.0.1", port, block=False, quiet=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                   else r.abort())
        page.set_default_timeout(600_000)
        page.goto(url)
        page.wait_for_selector("#generate")
        page.wait_for_selector("#class-box", state="visible")
        choose(page, "class-box", args.cls)
        choose(page, "sampler", "ddim")
        set_number(page, "steps", args.steps)
        set_number(page, "count", 16)
        generate(page)
        page.screenshot(path=str(out / "web_generate.png"))
        tab(page, "Learn")
        page.locator("#forward-image img").first.wait_for()
        set_number(page, "timestep", 400)
        page.locator("#timestep input[type=number]").first.blur()
        page.locator("#animate").click()
        page.locator("#gif-xt img").first.wait_for()
        page.locator("#show-attention").click()
        page.locator("#attention-plot img").first.wait_for()
        page.locator("#show-embeddings").click()
        page.locator("#embedding-plot img").first.wait_for()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "web_learn.png"), full_page=True)
        browser.close()
    demo.close()
    for name in ("web_generate.png", "web_learn.png"):
        print(f"{out / name}: {small(out / name)} bytes")


if __name__ == "__main__":
    main()
