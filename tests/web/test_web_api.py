"""The page's functions and its API (gradio_client): limits, messages, and the same images as the CLI."""

from __future__ import annotations

import base64
import io
import shlex

import gradio_client  # the web extra, which make test installs
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fromnoise.errors import UserError
from fromnoise.features import FEATURE_NAMES


def _pixels(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


# ---------------------------------------------------------------------------------- no server
def test_feature_overrides_give_the_same_vector_as_all_32():
    from fromnoise.features import apply_overrides
    from fromnoise.web.generate_settings import feature_overrides

    values = {n: 0.5 for n in FEATURE_NAMES} | {"temperature": 0.9, "circularity": 0.25}
    items = feature_overrides(values)
    assert sorted(items) == ["circularity=0.25", "temperature=0.9"]  # only the values that differ
    short = apply_overrides(np.full(32, 0.5), items)
    full = apply_overrides(np.full(32, 0.5), [f"{k}={v}" for k, v in values.items()])
    np.testing.assert_array_equal(short, full)
    assert feature_overrides({n: 0.5 for n in FEATURE_NAMES}) == [f"{FEATURE_NAMES[0]}=0.5"]  # still conditioned
    assert feature_overrides(None) == []


def test_mask_from_a_drawing():
    from fromnoise.web.uploads import mask_from_image

    canvas = np.zeros((256, 256, 4), np.uint8)  # transparent: no mask
    assert mask_from_image(canvas, 16) is None
    canvas[64:192, 64:128] = (255, 255, 255, 255)  # a white stroke: the left half of the middle
    mask = mask_from_image(canvas, 16)
    assert mask.shape == (16, 16) and mask.dtype == bool
    assert mask[4:12, 4:8].all() and not mask[:, 9:].any() and not mask[:3].any()
    grey = np.zeros((32, 32), np.uint8)
    grey[:16] = 255
    assert mask_from_image(grey, 8)[:4].all() and not mask_from_image(grey, 8)[4:].any()


def test_limits_are_user_errors():
    from fromnoise.web.generate_settings import Settings, check

    for kwargs, words in [({"steps": 1001}, "steps"), ({"steps": 0}, "steps"), ({"n": 65}, "64"),
                          ({"n": 2.5}, "whole"), ({"guidance": -1}, "guidance"), ({"sampler": "x"}, "sampler"),
                          ({"features": {"temprature": 0.5}}, "unknown feature"),
                          ({"features": {"temperature": 1.5}}, "[0, 1]"), ({"seed": -1}, "seed")]:
        with pytest.raises(UserError, match=words):
            check(Settings("m", **kwargs))


def test_remote_host_needs_the_flag():
    from fromnoise.cli.main import cli
    from fromnoise.web.app import check_host

    assert check_host("127.0.0.1", False) is False
    assert check_host("0.0.0.0", True) is True
    with pytest.raises(UserError, match="--allow-remote"):
        check_host("0.0.0.0", False)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--runs", "/nonexistent"])
    assert result.exit_code == 2 and "--allow-remote" in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------------------------- the API
def test_sample_every_kind_of_model(client, runs):
    r = client.predict(model="class", n=2, steps=3, class_name="red", guidance=2.0, api_name="/sample")
    assert [i["seed"] for i in r["images"]] == [0, 1]
    assert "--class red" in r["command"] and "--guidance 2" in r["command"]
    assert _pixels(r["images"][0]["png"]).shape[:2] == (8, 8)
    assert "seed 0" in r["images"][0]["caption"] and "red" in r["images"][0]["caption"]
    r = client.predict(model="text", n=1, steps=2, prompt="Draw a six", guidance=3.0, api_name="/sample")
    assert "--prompt 'Draw a six'" in r["command"]
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, format="PNG")
    r = client.predict(model="features", n=2, steps=3, features={"temperature": 0.9},
                       mask_png=base64.b64encode(buf.getvalue()).decode(), api_name="/sample")
    assert "--set temperature=0.9" in r["command"] and "--mask" in r["command"]
    assert _pixels(r["images"][1]["png"]).shape == (16, 16, 3)


def test_the_page_and_the_cli_make_the_same_image(client, runs, tmp_path):
    """The command line the page shows, run through the CLI, gives the page's pixels: one code path."""
    from fromnoise.cli.main import cli

    r = client.predict(model="features", n=3, steps=4, seed=7, features={"temperature": 0.8, "solidity": 0.2},
                       guidance=2.0, api_name="/sample")
    args = shlex.split(r["command"])[1:]  # without "fromnoise"
    args[1] = str(runs["features"])  # the run as the page names it (relative to --runs)
    result = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "cli")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for j, img in enumerate(r["images"]):
        cli_png = np.asarray(Image.open(tmp_path / "cli" / "images" / f"sample_{j:05d}.png"))
        np.testing.assert_array_equal(_pixels(img["png"]), cli_png)


def test_a_feature_value_changes_the_image(client, runs):
    low = client.predict(model="features", n=1, steps=4, features={"temperature": 0.0}, api_name="/sample")
    high = client.predict(model="features", n=1, steps=4, features={"temperature": 1.0}, api_name="/sample")
    again = client.predict(model="features", n=1, steps=4, features={"temperature": 0.0}, api_name="/sample")
    a, b = _pixels(low["images"][0]["png"]).astype(int), _pixels(high["images"][0]["png"]).astype(int)
    assert np.abs(a - b).mean() > 0.5
    np.testing.assert_array_equal(a, _pixels(again["images"][0]["png"]))  # same settings, same image


@pytest.mark.parametrize("kwargs, words", [
    ({"model": "class", "steps": 5000}, "steps must be between 1 and 1000"),
    ({"model": "class", "n": 100}, "between 1 and 64"),
    ({"model": "class", "class_name": "green"}, "unknown class 'green'; this model knows: blue, red"),
    ({"model": "nope"}, "no run named 'nope'"),
    ({"model": "class", "prompt": "a cat"}, "cannot take --prompt"),
    ({"model": "text", "guidance": 3.0}, "needs a condition"),
    ({"model": "features", "mask_png": "bm90IGEgcG5n"}, "not a base64-encoded PNG"),
])
def test_bad_values_come_back_as_our_message(client, kwargs, words):
    with pytest.raises(gradio_client.exceptions.AppError, match=words) as err:
        client.predict(api_name="/sample", **kwargs)
    assert "Traceback" not in str(err.value)


def test_timeout_stops_a_generation(server, runs):
    from fromnoise.web.common import last
    from fromnoise.web.generate_settings import Settings
    from fromnoise.web.generate_work import run

    store = server[1].fromnoise.store
    with pytest.raises(UserError, match="longer than the page's limit"):
        last(run(store, Settings("class", steps=1000, n=64), timeout=0.3))
    assert not store.get("class").lock.locked()  # the lock is given back


def test_run_info_and_embeddings(client, runs):
    loss, metrics, grids, checkpoints, config = client.predict("class", api_name="/run_info")
    assert "loss" in metrics and loss is not None
    assert [row[0] for row in checkpoints["data"]] == [6, 3]
    assert [g["caption"] for g in grids] == ["step 3", "step 6"]
    assert config["conditioning"]["class"]["class_names"] == ["blue", "red"]
    assert client.predict("class", "", api_name="/embeddings")["type"] == "matplotlib"
    with pytest.raises(gradio_client.exceptions.AppError, match="no class or caption embeddings"):
        client.predict("features", "", api_name="/embeddings")


def test_training_only_under_the_data_roots(client, web_root, tmp_path):
    with pytest.raises(gradio_client.exceptions.AppError, match="not under the data roots"):
        client.predict(str(tmp_path), "x", "micro", "none", None, "steps", 2, 1, api_name="/train_start")
    with pytest.raises(gradio_client.exceptions.AppError, match="run name"):
        client.predict(str(web_root / "data" / "colours"), "../up", "micro", "none", None, "steps", 2, 1,
                       api_name="/train_start")
    assert client.predict(api_name="/train_status")["running"] is False


# ------------------------------------------------------------------------------ image-to-image
def _b64_png(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def photo():
    """An 8x8 RGB picture for the class model (8x8 RGB) and an inpainting hole in its middle."""
    rng = np.random.default_rng(3)
    img = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    hole = np.zeros((8, 8), np.uint8)
    hole[2:6, 2:6] = 255
    return img, hole


def test_variation_follows_the_strength_and_inpainting_keeps_the_rest(client, runs, photo):
    img, hole = photo
    near, far = [client.predict(model="class", n=2, steps=4, class_name="red", init_png=_b64_png(img),
                                strength=st, api_name="/sample") for st in (0.1, 1.0)]
    assert "--init" in near["command"] and "--strength 0.1" in near["command"]
    assert "from the upload" in near["images"][0]["caption"]
    grey = client.predict(model="class", n=1, steps=2, init_png=_b64_png(img[..., 0]), api_name="/sample")
    assert "converted to RGB" in grey["status"]  # the CLI's note, on the page
    d_near = np.mean([np.abs(_pixels(i["png"]).astype(int) - img).mean() for i in near["images"]])
    d_far = np.mean([np.abs(_pixels(i["png"]).astype(int) - img).mean() for i in far["images"]])
    assert d_near < 0.5 * d_far, (d_near, d_far)  # strength 0.1 stays near the upload, strength 1 does not
    r = client.predict(model="class", n=2, steps=3, class_name="blue", init_png=_b64_png(img),
                       inpaint_png=_b64_png(hole), resample=2, jump_length=2, feather=0, api_name="/sample")
    for flag in ("--inpaint", "--mask", "--resample 2", "--jump-length 2", "--feather 0"):
        assert flag in r["command"]
    keep = hole == 0
    for i in r["images"]:
        out = _pixels(i["png"]).astype(int)
        np.testing.assert_array_equal(out[keep], img[keep])  # the known pixels come back exactly
        assert (out[~keep] != img[~keep]).any()


def test_the_page_and_the_cli_make_the_same_inpainting(client, runs, photo, tmp_path):
    """The shown command with its --inpaint/--mask files (saved by the page), run through the CLI: same pixels."""
    from fromnoise.cli.main import cli

    img, hole = photo
    big = np.asarray(Image.fromarray(img).resize((12, 10)))  # another size: resized and centre-cropped, said
    hole_big = np.asarray(Image.fromarray(hole).resize((12, 10), Image.NEAREST))
    r = client.predict(model="class", n=2, steps=3, seed=5, class_name="red", guidance=2.0, init_png=_b64_png(big),
                       inpaint_png=_b64_png(hole_big), strength=0.8, resample=2, jump_length=2,
                       api_name="/sample")
    assert "centre-cropped" in r["status"]
    args = shlex.split(r["command"])[1:]
    args[1] = str(runs["class"])
    result = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "cli")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "centre-cropped" in result.output
    for j, item in enumerate(r["images"]):
        cli_png = np.asarray(Image.open(tmp_path / "cli" / "images" / f"sample_{j:05d}.png"))
        np.testing.assert_array_equal(_pixels(item["png"]), cli_png)


def test_an_edit_from_the_uploads_own_class_is_the_clis(client, runs, photo, tmp_path):
    """source: the upload's class (--from-class), inverted under it and guided from it; the CLI gives the same."""
    from fromnoise.cli.main import cli

    img, _ = photo
    r = client.predict(model="class", n=2, steps=3, seed=2, sampler="ddim", class_name="red", guidance=3.0,
                       init_png=_b64_png(img), strength=0.7, invert=True, source="blue", api_name="/sample")
    assert "--from-class blue" in r["command"] and "--invert" in r["command"]
    plain = client.predict(model="class", n=2, steps=3, seed=2, sampler="ddim", class_name="red", guidance=3.0,
                           init_png=_b64_png(img), strength=0.7, invert=True, api_name="/sample")
    assert any((_pixels(a["png"]) != _pixels(b["png"])).any() for a, b in zip(r["images"], plain["images"]))
    args = shlex.split(r["command"])[1:]
    args[1] = str(runs["class"])
    result = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "cli")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for j, item in enumerate(r["images"]):
        np.testing.assert_array_equal(_pixels(item["png"]),
                                      np.asarray(Image.open(tmp_path / "cli" / "images" / f"sample_{j:05d}.png")))
    with pytest.raises(Exception, match="acts through"):
        client.predict(model="class", n=1, steps=2, class_name="red", init_png=_b64_png(img), source="blue",
                       api_name="/sample")


def test_interpolation_between_two_seeds(client, runs, tmp_path):
    from fromnoise.cli.main import cli

    r = client.predict(model="class", frames=4, seed=2, seed_to=6, steps=3, class_name="red", sampler="ddim",
                       api_name="/interpolate")
    assert "--interpolate 4" in r["command"] and "--seed-to 6" in r["command"]
    assert Image.open(io.BytesIO(base64.b64decode(r["gif"]))).n_frames == 4
    frames = [_pixels(f) for f in r["frames"]]
    strip = _pixels(r["strip"])
    assert strip.shape[1] > 3 * strip.shape[0]
    ends = [client.predict(model="class", n=1, steps=3, seed=sd, sampler="ddim", class_name="red",
                           api_name="/sample") for sd in (2, 6)]  # a deterministic sampler: the ends are the seeds
    np.testing.assert_array_equal(frames[0], _pixels(ends[0]["images"][0]["png"]))
    assert np.abs(frames[-1].astype(int) - _pixels(ends[1]["images"][0]["png"])).max() <= 1  # slerp(a, b, 1) ~ b
    assert np.abs(frames[1].astype(int) - frames[0]).mean() > 0.5  # the middle frames are not an end
    stochastic = client.predict(model="class", frames=2, steps=2, api_name="/interpolate")  # dpmpp_2m_sde
    assert "fresh noise" in stochastic["status"]
    args = shlex.split(r["command"])[1:]
    args[1] = str(runs["class"])
    result = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "cli")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for j, f in enumerate(frames):
        cli_frame = Image.open(tmp_path / "cli" / "interpolation" / f"sample_{j:05d}.png")
        np.testing.assert_array_equal(f, np.asarray(cli_frame))


@pytest.mark.parametrize("kwargs, words", [
    ({"strength": 0.0, "init": True}, r"strength must be in \(0, 1\]"),
    ({"strength": 1.5, "init": True}, r"strength must be in \(0, 1\]"),
    ({"strength": 0.5}, "need an input image"),
    ({"init": True, "invert": True, "sampler": "ddpm"}, "deterministic sampler"),
    ({"init_png": "bm90IGEgcG5n"}, "cannot|not an image|unreadable|decode"),
    ({"init": True, "inpaint_png": True, "resample": 0}, "resample count"),
])
def test_bad_image_to_image_values_come_back_as_our_message(client, photo, kwargs, words):
    img, hole = photo
    if kwargs.pop("init", False):
        kwargs["init_png"] = _b64_png(img)
    if kwargs.get("inpaint_png") is True:
        kwargs["inpaint_png"] = _b64_png(hole)
    with pytest.raises(gradio_client.exceptions.AppError, match=words) as err:
        client.predict(model="class", n=1, steps=2, api_name="/sample", **kwargs)
    assert "Traceback" not in str(err.value)


def test_inpaint_region_from_a_drawing_or_a_file(tmp_path):
    from fromnoise.web.uploads import inpaint_region

    layer = np.zeros((32, 32, 4), np.uint8)
    with pytest.raises(UserError, match="empty"):
        inpaint_region({"background": np.full((32, 32, 4), 255, np.uint8), "layers": [layer]})  # background ignored
    layer[8:16, 0:32] = (255, 255, 255, 255)
    region = inpaint_region({"background": None, "layers": [layer]})
    assert region[8:16].all() and not region[:8].any() and not region[16:].any()
    file = tmp_path / "m.png"
    Image.fromarray(np.where(np.arange(8)[None, :] < 4, 255, 0).astype(np.uint8).repeat(8, 0)).save(file)
    assert inpaint_region({"layers": [layer]}, str(file))[:, :4].all()  # the file wins over the drawing
