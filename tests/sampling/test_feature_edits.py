"""Feature edits of art objects (bench/img2img_features.py, issue 26 item 4): the "moved toward" measure, the
silhouette IoU, the target choice, the condition rows against the CLI's, and one tiny run end to end."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch

from bench.img2img_features import edit_condition, edit_targets, mask_iou, moved_toward, movement, run_edits
from fromnoise.features import FEATURE_NAMES, FeatureNormalizer
from tests.synthetic import feature_objects_run

T = FEATURE_NAMES.index("temperature")


# --------------------------------------------------------------------------------------- the measures
def test_moved_toward_compares_the_distances_to_the_target_before_and_after():
    before = np.array([0.2, 0.2, 0.2, 0.8, 0.5, 0.5])
    after = np.array([0.5, 0.1, 0.95, 0.7, 0.5, 0.0])
    target = np.array([0.9, 0.9, 0.9, 0.1, 0.9, 0.25])
    # nearer; farther; past the target but nearer (0.05 < 0.7); nearer; unchanged; as far on the other side
    assert moved_toward(before, after, target).tolist() == [True, False, True, True, False, False]
    np.testing.assert_allclose(movement(before, after, target), [0.3, -0.1, 0.65, 0.1, 0.0, 0.0], atol=1e-12)


def test_hue_moves_the_shorter_way_round():
    before, target = np.array([0.9]), np.array([0.1])  # 0.2 apart through red (1 = 0)
    assert moved_toward(before, np.array([0.98]), target, circular=True)[0]  # 0.12 from the target
    assert not moved_toward(before, np.array([0.98]), target)[0]  # read as a line it went the wrong way
    np.testing.assert_allclose(movement(before, np.array([0.02]), target, circular=True), [0.12], atol=1e-12)


def test_mask_iou_on_constructed_masks():
    a = np.zeros((4, 4, 4))
    b = np.zeros((4, 4, 4))
    a[0, :2, :2] = b[0, :2, :2] = 1  # identical
    a[1, :2] = 1
    b[1, 2:] = 1  # disjoint
    a[2, 0, :4] = 1
    b[2, 0, 2:] = 1
    b[2, 1, :2] = 1  # 2 shared of 6
    a[3, 0, 0] = 0.4  # below the threshold: both empty
    np.testing.assert_allclose(mask_iou(a, b), [1.0, 0.0, 2 / 6, 1.0])
    np.testing.assert_allclose(mask_iou(a[:, None], b[:, None] > 0.5), [1.0, 0.0, 2 / 6, 1.0])  # (K, 1, H, W), bool


def test_the_target_is_p90_below_the_median_and_p10_above():
    rng = np.random.default_rng(0)
    table = rng.uniform(0, 1, (501, len(FEATURE_NAMES)))
    h = FEATURE_NAMES.index("num_holes")
    table[:, h] = 0.0  # no object has a hole: p10 = p90 = median = 0
    p10, p50, p90 = np.percentile(table[:, T], [10, 50, 90])
    own = np.full((3, len(FEATURE_NAMES)), 0.5)
    own[:, T] = [p50 - 0.01, p50 + 0.01, p50]
    own[:, h] = [0.0, 0.5, 0.0]
    targets = edit_targets(table, own)
    # at the median exactly: the farther end (the median of a uniform sample is near the middle; check which)
    at_median = p90 if p90 - p50 > p50 - p10 else p10
    np.testing.assert_allclose(targets[:, T], [p90, p10, at_median])
    # p10 = p90: the ends widen to 0 and 1; an object at the median (no hole) is sent to the farther end, 1
    np.testing.assert_allclose(targets[:, h], [1.0, 0.0, 1.0])


def test_edit_conditions_replace_one_feature_per_object():
    bases = np.random.default_rng(1).uniform(0, 1, (2, len(FEATURE_NAMES)))
    masks = torch.zeros(2, 1, 4, 4)
    masks[1] = 1
    cond = edit_condition(bases, T, np.array([0.1, 0.9]), masks)
    f = cond["features"].numpy()
    np.testing.assert_allclose(f[:, T], [0.1, 0.9], atol=1e-6)
    np.testing.assert_allclose(np.delete(f, T, axis=1), np.delete(bases, T, axis=1), atol=1e-6)
    assert torch.equal(cond["mask"], masks) and "mask" not in edit_condition(bases, T, bases[:, T], None)


def test_shape_and_topology_are_edited_without_the_mask_on_the_same_noise(monkeypatch):
    gen = importlib.import_module("fromnoise.sampling.generate")  # the module (the package exports the function)
    calls = []

    def fake_generate(denoiser, n, *, condition, noise, init, strength, **kw):
        calls.append((condition, noise, init, strength, kw))
        return init * 0.5 + 0.25  # any image of the input's shape

    class Enc:
        normalizer = FeatureNormalizer(low=np.zeros(32), high=np.ones(32))

    class Den:  # what run_edits reads of a model besides generate(): its shape and its feature normaliser
        image_shape = (3, 8, 8)
        encoders = {"features": Enc()}

    monkeypatch.setattr(gen, "generate", fake_generate)
    k, objects = 3, torch.rand(3, 3, 8, 8)
    names = ["temperature", "circularity", "num_holes"]
    res = run_edits(Den(), objects, np.full((k, 32), 0.5), torch.ones(k, 1, 8, 8), np.full((k, 32), 0.9), names,
                    (0.5, 1.0), generate_options={"seed": 0}, log=lambda _: None)
    assert len(calls) == 4  # two mask settings x two strengths
    masked = [c for c in calls if "mask" in c[0]]
    unmasked = [c for c in calls if "mask" not in c[0]]
    assert len(masked) == len(unmasked) == 2
    assert len(masked[0][0]["features"]) == 2 * k and len(unmasked[0][0]["features"]) == 3 * k  # + the control
    cond, noise, init, _, kw = unmasked[0]
    assert not kw["invert"] and "source" not in kw
    np.testing.assert_allclose(cond["features"][:2 * k, FEATURE_NAMES.index("circularity")].numpy()[:k], 0.9)
    np.testing.assert_allclose(cond["features"][2 * k:].numpy(), 0.5)  # the control: own features
    assert torch.equal(noise[:k], noise[k:2 * k]) and torch.equal(init[:k], objects)  # object k: one noise
    assert res["masked"] == {"temperature": True, "circularity": False, "num_holes": False}
    assert res["after"].shape == res["iou"].shape == (3, 2, k) and res["images"].shape == (3, 2, k, 3, 8, 8)

    calls.clear()  # --invert: the inversion runs under each object's own features, whatever the edit
    bases = np.random.default_rng(2).uniform(0, 1, (k, 32))
    run_edits(Den(), objects, bases, torch.ones(k, 1, 8, 8), np.full((k, 32), 0.9), names, (1.0,),
              generate_options={"seed": 0}, invert=True, log=lambda _: None)
    for cond, _, _, _, kw in calls:
        assert kw["invert"] and set(kw["source"]) == {"features"}
        np.testing.assert_allclose(kw["source"]["features"].numpy(), np.tile(bases, (len(cond["features"]) // k, 1)),
                                   atol=1e-6)


# ---------------------------------------------------------------------------------------- end to end
def test_the_bench_end_to_end_and_its_condition_is_the_clis(tmp_path, one_thread):
    from bench.img2img_features import main
    from fromnoise import load
    from fromnoise.conditioning.request import build_condition
    folder, run_dir = feature_objects_run(tmp_path, 1)

    summary = main(["--run", str(run_dir), "--data", str(folder), "--holdout", "4", "--objects", "2",
                    "--steps", "2", "--strengths", "0.5", "--features", "temperature", "circularity",
                    "--out", str(tmp_path / "out"), "--name", "smoke"])
    saved = json.loads((tmp_path / "out" / "smoke.json").read_text())
    assert saved["settings"]["objects"] == 2 and saved["settings"]["train_images"] == 8
    assert [(r["feature"], r["masked"], r["strength"]) for r in saved["rows"]] == [
        ("temperature", True, 0.5), ("circularity", False, 0.5)]
    for r in saved["rows"]:
        assert 0 <= r["moved"] <= 1 and 0 <= r["iou_mean"] <= 1 and 0 <= r["control_moved"] <= 1
    assert summary["rows"] == saved["rows"]
    for name in ("smoke.png", "smoke_examples.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "| temperature | color | yes | 0.5 |" in (tmp_path / "out" / "smoke.md").read_text()

    # the bench's condition is what the CLI builds from --like OBJ --set temperature=V (with the object's mask)
    den = load(run_dir)
    like = str(folder / saved["settings"]["object_files"][0])
    target, before = saved["targets"]["temperature"][0], saved["before"]["temperature"][0]
    cli, _ = build_condition(den, {"like": like, "set": [f"temperature={target!r}"]}, 1)
    own, _ = build_condition(den, {"like": like}, 1)
    assert own["features"][0, T].item() == pytest.approx(before, abs=1e-4)  # the bench measured that object
    mine = edit_condition(own["features"].numpy(), T, np.array([target]), own["mask"])
    np.testing.assert_allclose(cli["features"].numpy(), mine["features"].numpy(), atol=1e-6)
    assert torch.equal(cli["mask"], mine["mask"]) and cli["mask"].sum() > 0


# ------------------------------------------------------------------ the CLI's feature edits keep the rest
def test_an_edit_of_a_feature_model_keeps_the_inputs_own_features_and_inverts_under_them(tmp_path, one_thread):
    """``--init X --set temperature=V`` without ``--like``: X is the like image (the other 31 features stay X's,
    not 0.5); with ``--invert`` the inversion runs under X's own features; ``sample`` says so in one note."""
    from fromnoise import load
    from fromnoise.conditioning.request import build_condition
    from fromnoise.img2img_request import EditRequest
    from fromnoise.sampling.img2img_files import condition_kwargs
    from tests.cli_runner import run

    folder, run_dir = feature_objects_run(tmp_path, 1)
    den, x = load(run_dir), str(folder / "o_03.png")
    request = {"set": ["temperature=0.9"]}
    assert EditRequest(init=x).keep_own_condition(request, den.encoders) and request["like"] == x
    edited, _ = build_condition(den, request, 1)
    own, _ = build_condition(den, {"like": x}, 1)
    f, g = edited["features"][0].numpy(), own["features"][0].numpy()
    assert f[T] == pytest.approx(0.9, abs=1e-6) and np.allclose(np.delete(f, T), np.delete(g, T), atol=1e-6)
    assert torch.equal(edited["mask"], own["mask"])  # the silhouette follows the like image
    for kept in ({"like": str(folder / "o_01.png")}, {"features": "f.json"}):  # what the user names stays
        assert not EditRequest(init=x).keep_own_condition(dict(kept), den.encoders)
    assert not EditRequest().keep_own_condition({}, den.encoders)  # no input image: nothing to keep

    kw = condition_kwargs(EditRequest(init=x, invert=True), den, 1, edited, 1.0)
    assert torch.equal(kw["source"]["features"], own["features"]) and torch.equal(kw["source"]["mask"], own["mask"])
    assert "source" not in condition_kwargs(EditRequest(init=x), den, 1, edited, 1.0)  # SDEdit has no inversion

    result = run("sample", run_dir, "--init", x, "--set", "temperature=0.9", "--strength", "0.5", "-n", "1",
                 "--steps", "2", "--out", tmp_path / "gen")
    assert result.output.count("keeps the input's own features") == 1, result.output
