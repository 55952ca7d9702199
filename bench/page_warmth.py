"""The page with a 256x256 model (issue 24, item 6): does the warmth slider move the warmth of what it makes?

Serves ``--run`` on loopback (``fromnoise.web.app``, as ``fromnoise serve`` does), opens it in Debian's headless
chromium (playwright; never a downloaded browser) and, as a user would:

1. uploads ``--like`` (a 256x256 RGBA PNG) to "like this image": the 32 sliders must take its measured
   features (the temperature box must show the value ``fromnoise.features`` measures, normalised as the
   model's sliders are) and the mask box must switch on;
2. sets the temperature slider low (``--low``), generates ``--count`` images on the page's fixed seed,
   then high (``--high``) on the same seed, and re-measures each image's temperature
   (``fromnoise.features.extract``: its raw warmth);
3. passes when the mean measured temperature rises with the slider, and says by how much.

    python bench/page_warmth.py --run bench/cache/latent/latent_f4_2000_flagship \\
        --like bench/cache/autoencoder/clipart256_2000_200/heldout/<file>.png

Writes bench/results/page_warmth.json and page_warmth.png (the page after the high run).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_result  # noqa: E402
from bench.page_driver import CHROMIUM, CHROMIUM_ARGS, click_generate, image_pixels, set_number  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _generate(page) -> list[np.ndarray]:
    """Generate on the page; the pixels of every image in the gallery."""
    click_generate(page)
    imgs = page.locator("#gallery img")
    return [image_pixels(page, imgs.nth(i)) for i in range(imgs.count())]


def warmth(images: list[np.ndarray]) -> list[float]:
    """The raw temperature feature of each generated image (RGBA: inside its alpha)."""
    from fromnoise.features import FEATURE_NAMES, extract

    t = FEATURE_NAMES.index("temperature")
    return [float(extract(im).values[t]) for im in images]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a features + mask run at 256x256 (latent or patch)")
    ap.add_argument("--like", required=True, help="a 256x256 RGBA PNG for 'like this image'")
    ap.add_argument("--count", type=int, default=4, help="images per run")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--low", type=float, default=0.1, help="the temperature slider's low setting (normalised)")
    ap.add_argument("--high", type=float, default=0.9, help="its high setting")
    ap.add_argument("--name", default="page_warmth", help="results name under bench/results/")
    a = ap.parse_args(argv)

    from playwright import sync_api

    from fromnoise import load
    from fromnoise.conditioning.request import build_condition
    from fromnoise.features import FEATURE_NAMES
    from fromnoise.web.app import build_app, launch

    run = Path(a.run).resolve()
    t = FEATURE_NAMES.index("temperature")
    expected = float(build_condition(load(run), {"like": a.like}, 1)[0]["features"][0, t])  # the sliders' scale
    demo = build_app((str(run),), None, (), device="cpu", timeout=600, concurrency=1)
    _, url = launch(demo, "127.0.0.1", _free_port(), block=False, quiet=True)
    t0 = time.perf_counter()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                ("http://127.0.0.1", "data:", "blob:")) else r.abort())
            page.set_default_timeout(600_000)
            page.goto(url.rstrip("/") + "/")
            page.wait_for_selector("#feature-temperature", state="visible")
            set_number(page, "steps", a.steps)
            set_number(page, "count", a.count)
            page.locator("#like-image input[type=file]").set_input_files(str(Path(a.like).resolve()))
            page.wait_for_function("() => document.querySelector('#use-mask input').checked")
            page.wait_for_function("(v) => Math.abs(parseFloat(document.querySelector("
                                   "'#feature-temperature input[type=number]').value) - v) < 0.02", arg=expected)
            shown = float(page.locator("#feature-temperature input[type=number]").first.input_value())
            set_number(page, "feature-temperature", a.low)
            low = _generate(page)
            set_number(page, "feature-temperature", a.high)
            high = _generate(page)
            command = page.locator("#command").inner_text()
            RESULTS.mkdir(exist_ok=True)
            page.screenshot(path=str(RESULTS / f"{a.name}.png"), full_page=False)
            browser.close()
    finally:
        demo.close()
    w_low, w_high = warmth(low), warmth(high)
    result = {"run": str(run), "like": a.like, "image_shape": list(low[0].shape), "count": len(low),
              "steps": a.steps, "slider_filled_by_like": shown, "measured_like_normalised": expected,
              "mask_switched_on": True, "low": a.low, "high": a.high, "warmth_low": w_low, "warmth_high": w_high,
              "mean_warmth_low": float(np.mean(w_low)), "mean_warmth_high": float(np.mean(w_high)),
              "images_warmer": int(sum(h > lo for h, lo in zip(w_high, w_low))),
              "moves_the_same_way": bool(np.mean(w_high) > np.mean(w_low)), "command": command,
              "wall_seconds": time.perf_counter() - t0}
    write_result(a.name, result)
    print(f"like: the temperature slider shows {shown:.3f} (measured {expected:.3f}); the mask switched on")
    print(f"temperature slider {a.low} -> {a.high}: mean measured warmth {result['mean_warmth_low']:.3f} -> "
          f"{result['mean_warmth_high']:.3f} ({result['images_warmer']} of {len(low)} images warmer): "
          + ("moves the same way" if result["moves_the_same_way"] else "does NOT move the same way"))
    return result


if __name__ == "__main__":
    main()
