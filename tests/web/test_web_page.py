"""The page in a real headless browser: Debian's chromium driven by playwright (never a downloaded browser).

Screenshots go to $FROMNOISE_WEB_SHOTS (default: the test's temporary folder); the README's two,
of a real Fashion-MNIST model, come from ``bench/make_screenshots.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import playwright  # noqa: F401  (the dev extra, which make test installs)
import pytest
from PIL import Image

from bench.page_driver import choose, click_generate, image_pixels, set_number, tab


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("FROMNOISE_WEB_SHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def generate(page) -> tuple[np.ndarray, object]:
    """Click Generate, wait for the gallery's first image to be replaced; returns its pixels and the locator."""
    first = click_generate(page)
    return image_pixels(page, first), first


def test_page_loads_with_every_tab_and_nothing_from_outside(page, loopback_only):
    for name in ("Generate", "Learn", "Train", "Runs"):
        assert page.get_by_role("tab", name=name).is_visible()
    assert page.locator("#model input").first.input_value() in ("class", "features", "text")
    assert not loopback_only, f"something tried to reach outside loopback: {loopback_only}"


def test_class_model(page):
    choose(page, "model", "class")
    page.wait_for_selector("#class-box", state="visible")
    assert not page.locator("#prompt-box").is_visible() and not page.locator("#feature-temperature").is_visible()
    choose(page, "class-box", "red")
    set_number(page, "steps", 3)
    pixels, first = generate(page)
    assert pixels.shape[:2] == (8, 8)
    assert first.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [8, 8]
    assert "--class red" in page.locator("#command").inner_text()
    assert "seed 0" in page.locator("#gallery").inner_text()


def test_text_model_and_an_error_on_the_page(page):
    choose(page, "model", "text")
    page.wait_for_selector("#prompt-box", state="visible")
    set_number(page, "guidance", 3)
    page.locator("#generate").click()  # guidance without a prompt: our sentence on the page
    toast = page.get_by_text(re.compile("needs a condition"))
    toast.first.wait_for()
    assert "Traceback" not in page.content()
    page.locator("#prompt-box textarea, #prompt-box input").first.fill("Draw a six")
    set_number(page, "steps", 3)
    pixels, _ = generate(page)
    assert pixels.shape[:2] == (8, 8)
    assert "--prompt 'Draw a six'" in page.locator("#command").inner_text()
    set_number(page, "guidance", 1)


def test_image_to_image_follows_the_strength_and_inpainting_keeps_the_rest(page, tmp_path):
    rng = np.random.default_rng(1)
    photo = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    hole = np.zeros((8, 8), np.uint8)
    hole[2:6, 2:6] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(hole).save(tmp_path / "hole.png")
    choose(page, "model", "class")
    choose(page, "class-box", "blue")
    set_number(page, "steps", 4)
    set_number(page, "count", 2)
    page.get_by_text("image-to-image: variations, edits, inpainting").click()
    try:
        page.locator("#i2i-mode").get_by_label("variation / edit").check()
        page.locator("#init-image input[type=file]").set_input_files(str(tmp_path / "photo.png"))
        page.locator("#init-image img").first.wait_for()
        distance = {}
        for strength in (0.1, 1.0):
            set_number(page, "strength", strength)
            pixels, _ = generate(page)
            assert f"--strength {strength:g}" in page.locator("#command").inner_text()
            distance[strength] = np.abs(pixels.astype(int) - photo).mean()
        assert distance[0.1] < 0.5 * distance[1.0], distance  # a low strength stays near the upload
        assert "--init" in page.locator("#command").inner_text()
        page.locator("#i2i-mode").get_by_label("inpaint").check()
        page.locator("#inpaint-mask input[type=file]").set_input_files(str(tmp_path / "hole.png"))
        page.locator("#inpaint-mask img").first.wait_for()
        set_number(page, "resample", 2)
        set_number(page, "jump-length", 2)
        pixels, _ = generate(page)
        keep = hole == 0
        np.testing.assert_array_equal(pixels[keep], photo[keep])  # the known pixels come back exactly
        assert (pixels[~keep] != photo[~keep]).any()
        command = page.locator("#command").inner_text()
        assert "--inpaint" in command and "--resample 2" in command and "--jump-length 2" in command
    finally:  # the later tests generate from noise
        page.locator("#i2i-mode").get_by_label("off").check()
    # interpolation between two seeds: a strip and a GIF
    page.get_by_text("interpolate between two seeds").click()
    set_number(page, "seed-to", 3)
    set_number(page, "interp-frames", 4)
    page.locator("#interpolate").click()
    page.locator("#interp-gif img").first.wait_for()
    assert page.locator("#interp-gif img").first.get_attribute("src").endswith(".gif")
    assert "--interpolate 4" in page.locator("#interp-command").inner_text()


def test_feature_model_slider_changes_the_image(page, shots, folders):
    choose(page, "model", "features")
    page.wait_for_selector("#feature-temperature", state="visible")
    page.locator("#mask-editor").wait_for(state="visible")
    set_number(page, "steps", 4)
    set_number(page, "count", 8)
    set_number(page, "feature-temperature", 0.0)
    before, first = generate(page)
    assert before.shape == (16, 16, 3)
    assert page.locator("#preview img").first.is_visible()  # the streamed x0 preview stays after the run
    set_number(page, "feature-temperature", 1.0)
    after, _ = generate(page)
    assert after.shape == (16, 16, 3)
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 0.5
    assert "--set temperature=1" in page.locator("#command").inner_text()
    # like this image: its measured features fill the sliders and its mask the mask
    page.locator("#like-image input[type=file]").set_input_files(str(folders["features"] / "shape_1.png"))
    page.wait_for_function("() => document.querySelector('#use-mask input').checked")
    page.wait_for_function("() => document.querySelector('#feature-temperature input[type=number]').value !== '1'")
    generate(page)
    assert "--mask" in page.locator("#command").inner_text()
    page.screenshot(path=str(shots / "web_generate.png"), full_page=False)


def test_learn_tab_renders(page, shots):
    choose(page, "model", "class")
    tab(page, "Learn")
    page.locator("#forward-image img").first.wait_for()
    # the plot arrives in the same update but the browser renders it a moment later: wait, do not poll once
    page.locator("#schedule-plot img").first.wait_for(state="visible")
    set_number(page, "timestep", 900)
    page.locator("#timestep input[type=number]").first.blur()
    page.locator("#animate").click()
    page.locator("#gif-xt img").first.wait_for()
    assert page.locator("#gif-x0 img").first.get_attribute("src").endswith(".gif")
    page.locator("#show-attention").click()
    page.locator("#attention-plot img").first.wait_for()
    page.locator("#show-embeddings").click()
    page.locator("#embedding-plot img").first.wait_for()
    page.screenshot(path=str(shots / "web_learn.png"), full_page=True)


def test_runs_tab_renders(page, shots):
    tab(page, "Runs")
    page.locator("#runs-show").click()
    page.locator("#runs-loss img").first.wait_for()
    page.locator("#runs-grids img").first.wait_for()
    assert "step_00000006" in page.locator("#runs-checkpoints").inner_text()
    assert "micro" in page.locator("#runs-config").inner_text()
    page.screenshot(path=str(shots / "web_runs.png"), full_page=True)


def test_train_start_and_stop(page, shots, folders, web_root, loopback_only):
    tab(page, "Train")
    folder = page.locator("#train-folder input").first
    folder.fill(str(folders["class"]))
    folder.press("Enter")
    page.locator("#train-name input, #train-name textarea").first.fill("from-the-page")
    page.get_by_label("steps", exact=True).check()
    set_number(page, "train-budget", 100000)
    set_number(page, "train-every", 2)
    set_number(page, "train-size", 8)
    page.locator("#train-start").click()
    page.get_by_text(re.compile("^started")).first.wait_for()
    # the process logs a first step, the page shows it
    page.wait_for_function("() => /running .* step \\d+/.test(document.querySelector('#train-state').innerText)",
                           timeout=120_000)
    page.screenshot(path=str(shots / "web_train.png"), full_page=True)
    page.locator("#train-stop").click()
    page.get_by_text(re.compile("stopped; starting the same run again resumes")).first.wait_for()
    # the state line says so too, and no late timer tick turns it back to "running"
    page.wait_for_function("() => /stopped/.test(document.querySelector('#train-state').innerText)", timeout=30_000)
    page.wait_for_timeout(2_500)
    assert "stopped" in page.locator("#train-state").inner_text()
    assert (web_root / "runs" / "from-the-page" / "metrics.jsonl").exists()
    assert not loopback_only, f"something tried to reach outside loopback: {loopback_only}"
