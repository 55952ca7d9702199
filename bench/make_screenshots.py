"""The README's screenshots of the page, from a real model: a tool, not a test (it reuses the browser tests' helpers).

    OMP_NUM_THREADS=1 fromnoise train --dataset fashion-mnist --preset fashion --condition class \\
        --minutes 8 --out /tmp/fm-class
    .venv/bin/python bench/make_screenshots.py /tmp/fm-class docs/images

Serves the run on loopback, drives Debian's chromium with playwright as the browser tests do
(tests/web/conftest.py), and writes web_generate.png (a class chosen, images generated) and
web_learn.png (forward process, reverse animation, attention, embeddings), and for tutorial 08
web_img2img.png (a held-out image inpainted on the page), each reduced to an
adaptive palette when it would exceed 300 KB.
"""

from __future__ import annotations

import argparse
import gzip
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: tests/ and fromnoise/

from bench.page_driver import CHROMIUM, CHROMIUM_ARGS, choose, click_generate, set_number, tab

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


def held_out(folder: Path, index: int = 0) -> tuple[Path, Path]:
    """Fashion-MNIST test image ``index`` (Debian's copy; an ankle boot for 0) and a mask of its right half."""
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    hole = np.zeros((28, 28), np.uint8)
    hole[:, 14:] = 255
    Image.fromarray(images[index]).save(folder / "photo.png")
    Image.fromarray(hole).save(folder / "hole.png")
    return folder / "photo.png", folder / "hole.png"


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
        click_generate(page)
        page.screenshot(path=str(out / "web_generate.png"))
        # image-to-image: a held-out Fashion-MNIST image, its right half regenerated (RePaint)
        photo, hole = held_out(Path(tempfile.mkdtemp(prefix="shots-")))
        page.get_by_text("image-to-image: variations, edits, inpainting").click()
        page.locator("#i2i-mode").get_by_label("inpaint").check()
        page.locator("#init-image input[type=file]").set_input_files(str(photo))
        page.locator("#init-image img").first.wait_for()
        page.locator("#inpaint-mask input[type=file]").set_input_files(str(hole))
        page.locator("#inpaint-mask img").first.wait_for()
        set_number(page, "resample", 3)
        set_number(page, "jump-length", 5)
        click_generate(page)
        page.locator("#i2i").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "web_img2img.png"), full_page=True)
        page.locator("#i2i-mode").get_by_label("off").check()
        page.evaluate("window.scrollTo(0, 0)")
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
    for name in ("web_generate.png", "web_img2img.png", "web_learn.png"):
        print(f"{out / name}: {small(out / name)} bytes")


if __name__ == "__main__":
    main()
