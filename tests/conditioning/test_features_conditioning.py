"""Feature and mask conditioning: encoders, the training setup, sampling requests, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.draw import disk, rectangle

from fromnoise import load
from fromnoise.build import build_denoiser, make_config
from fromnoise.conditioning.features import FeatureEncoder, MaskEncoder, load_mask, setup_features
from fromnoise.conditioning.request import build_condition
from fromnoise.conditioning.tables import setup_conditioning
from fromnoise.data import load_dataset
from fromnoise.errors import UserError
from fromnoise.features import FEATURE_NAMES, FeatureNormalizer
from fromnoise.sampling import generate

SIZE = 16
COLORS = [(230, 30, 30), (30, 200, 40), (40, 60, 220), (240, 200, 20), (160, 40, 200), (20, 180, 200)]


def _shape(i: int) -> np.ndarray:
    """RGBA uint8: a disk or a square of varying size and colour on transparent."""
    img = np.zeros((SIZE, SIZE, 4), np.uint8)
    m = np.zeros((SIZE, SIZE), bool)
    r = 3 + i % 4
    if i % 2:
        m[disk((SIZE / 2, SIZE / 2), r)] = True
    else:
        m[rectangle((8 - r, 8 - r), extent=(2 * r, 2 * r))] = True
    img[m, :3] = COLORS[i % len(COLORS)]
    img[m, 3] = 255
    return img


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    for i in range(12):
        Image.fromarray(_shape(i), "RGBA").save(root / f"shape_{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def setup(folder):
    data = load_dataset(folder, image_size=SIZE, channels=3)
    conditioning, tables = setup_conditioning("features", data, 32, mask=True, workers=1)
    return data, conditioning, tables


def _config(conditioning):
    return make_config("tiny", image_size=SIZE, channels=3, conditioning=conditioning,
                       model_overrides={"channels": (8, 16), "emb_dim": 32})


def _normalizer():
    table = np.random.default_rng(0).uniform(0, 1, (20, len(FEATURE_NAMES)))
    return FeatureNormalizer.fit(table).to_dict()


# ------------------------------------------------------------------------------------ encoders
def test_feature_encoder_shapes_null_and_dropout():
    enc = FeatureEncoder(16, _normalizer(), image_size=SIZE, channels=3, solo_dropout=0.0).eval()
    with torch.no_grad():
        enc.null.normal_()
    feats = torch.rand(4, 32)
    drop = torch.tensor([False, True, False, True])
    emb, ctx = enc.encode({"features": feats}, drop)
    assert emb.shape == (4, 16) and ctx is None
    assert torch.equal(emb[1], enc.null) and torch.equal(emb[3], enc.null)
    assert not torch.allclose(emb[0], enc.null)
    # the null condition, all dropped, and a missing key all give the null embedding
    null = enc.null_condition(3, "cpu")
    assert null["features"].shape == (3, 32)
    assert torch.equal(enc.encode(null, torch.ones(3, dtype=torch.bool))[0], enc.null.expand(3, -1))
    assert torch.equal(enc.encode({}, torch.zeros(3, dtype=torch.bool))[0], enc.null.expand(3, -1))


def test_solo_dropout_only_in_training():
    enc = FeatureEncoder(8, _normalizer(), image_size=SIZE, channels=3, solo_dropout=0.5)
    with torch.no_grad():
        enc.null.fill_(123.0)
    keep = torch.zeros(400, dtype=torch.bool)
    share = (enc.train().encode({"features": torch.rand(400, 32)}, keep)[0][:, 0] == 123.0).float().mean()
    assert 0.35 < share < 0.65
    assert not (enc.eval().encode({"features": torch.rand(400, 32)}, keep)[0][:, 0] == 123.0).any()


def test_mask_encoder_channel():
    enc = MaskEncoder(SIZE, channels=3, solo_dropout=0.0).eval()
    assert enc.input_channels() == 1
    x = torch.zeros(3, 3, SIZE, SIZE)
    mask = (torch.rand(3, 1, SIZE, SIZE) > 0.5).float()
    out = enc.image_inputs({"mask": mask}, torch.tensor([False, True, False]), x)
    assert out.shape == (3, 1, SIZE, SIZE)
    assert torch.equal(out[0], mask[0] * 2 - 1) and torch.equal(out[1], torch.zeros(1, SIZE, SIZE))
    assert torch.equal(enc.image_inputs({}, torch.zeros(3, dtype=torch.bool), x), torch.zeros(3, 1, SIZE, SIZE))
    assert enc.null_condition(2, "cpu")["mask"].shape == (2, 1, SIZE, SIZE)


# --------------------------------------------------------------------------------------- setup
def test_setup_features_tables(setup):
    data, conditioning, tables = setup
    assert set(conditioning) == {"features", "mask"}
    feats, masks = tables["features"], tables["mask"]
    assert feats.shape == (len(data), 32) and feats.dtype == torch.float32
    assert feats.min() >= 0 and feats.max() <= 1
    assert masks.shape == (len(data), 1, SIZE, SIZE) and set(masks.unique().tolist()) <= {0.0, 1.0}
    # the mask is the object (non-white pixels of the composited training image)
    obj = (data.images.float().mean(1, keepdim=True) < 250).float()
    assert (masks == obj).float().mean() > 0.95
    # larger disks/squares have a larger mask: areas vary with i % 4
    assert masks[3].sum() > masks[1].sum()
    # without the mask, plain FeatureEncoder kwargs and no mask table
    kwargs, only = setup_features(data, 32, mask=False, workers=1)
    assert "normalizer" in kwargs and set(only) == {"features"}


def test_mask_dropout_sets_the_mask_encoders_solo_dropout_alone(setup):
    data, conditioning, _ = setup
    assert conditioning["mask"]["solo_dropout"] == conditioning["features"]["solo_dropout"] == 0.1
    kwargs, _ = setup_conditioning("features", data, 32, mask=True, workers=1, mask_dropout=0.4)
    assert kwargs["mask"]["solo_dropout"] == 0.4 and kwargs["features"]["solo_dropout"] == 0.1
    den = build_denoiser(json.loads(json.dumps(_config(kwargs))))  # the checkpoint's config builds it
    assert den.encoders["mask"].solo_dropout == 0.4 and den.encoders["features"].solo_dropout == 0.1


def test_normaliser_round_trips_through_the_config(setup):
    _, conditioning, _ = setup
    config = json.loads(json.dumps(_config(conditioning)))  # what config.json holds
    den = build_denoiser(config)
    norm = den.encoders["features"].normalizer
    saved = FeatureNormalizer.from_dict(conditioning["features"]["normalizer"])
    np.testing.assert_array_equal(norm.low, saved.low)
    np.testing.assert_array_equal(norm.high, saved.high)
    assert den.net.config.in_channels == 4  # 3 colour channels + the mask


# ----------------------------------------------------------------------------------- requests
@pytest.fixture(scope="module")
def denoiser(setup):
    return build_denoiser(_config(setup[1])).eval()


def test_rows_features_set_like_mask(denoiser, folder, tmp_path):
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"temperature": 0.9, "circularity": 0.2}))
    cond, labels = build_condition(denoiser, {"features": str(values), "set": ["circularity=0.7"]}, 2)
    feats = cond["features"]
    assert feats.shape == (2, 32) and "mask" not in cond
    assert feats[0, FEATURE_NAMES.index("temperature")] == pytest.approx(0.9)
    assert feats[0, FEATURE_NAMES.index("circularity")] == pytest.approx(0.7)  # --set wins over the file
    assert feats[0, FEATURE_NAMES.index("solidity")] == pytest.approx(0.5)  # unspecified: the middle
    assert "values.json" in labels[0] and "circularity=0.7" in labels[0]

    like = folder / "shape_03.png"
    cond, _ = build_condition(denoiser, {"like": str(like), "set": ["temperature=0.1"]}, 1)
    enc = denoiser.encoders["features"]
    expected = enc.like_vector(like)
    expected[FEATURE_NAMES.index("temperature")] = 0.1
    np.testing.assert_allclose(cond["features"][0].numpy(), expected, atol=1e-6)
    ref = np.asarray(Image.open(like))[..., 3] > 127
    assert (cond["mask"][0, 0].numpy().astype(bool) == ref).mean() > 0.95  # the like image's mask

    mask_png = tmp_path / "mask.png"
    Image.fromarray((ref[::-1] * 255).astype(np.uint8)).save(mask_png)  # an explicit mask wins over like's
    cond, _ = build_condition(denoiser, {"like": str(like), "mask": str(mask_png)}, 1)
    assert np.array_equal(cond["mask"][0, 0].numpy().astype(bool), ref[::-1])


def test_request_errors(denoiser, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"temprature": 0.5}))
    with pytest.raises(UserError, match="temperature"):  # a close match is suggested
        build_condition(denoiser, {"features": str(bad)}, 1)
    bad.write_text(json.dumps({"temperature": 1.5}))
    with pytest.raises(UserError, match="outside"):
        build_condition(denoiser, {"features": str(bad)}, 1)
    with pytest.raises(UserError, match="NAME=VALUE"):
        build_condition(denoiser, {"set": ["temperature"]}, 1)
    wrong = tmp_path / "wrong_size.png"
    Image.fromarray(np.zeros((SIZE + 3, SIZE), np.uint8)).save(wrong)
    with pytest.raises(UserError, match="wrong_size.png"):
        load_mask(wrong, SIZE)
    with pytest.raises(UserError, match="nothing.png"):
        build_condition(denoiser, {"like": str(tmp_path / "nothing.png")}, 1)


def test_like_without_an_object_falls_back(denoiser, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(blank)  # nothing to segment
    cond, _ = build_condition(denoiser, {"like": str(blank)}, 1)
    assert torch.isfinite(cond["features"]).all()
    assert cond["features"].min() >= 0 and cond["features"].max() <= 1
    assert cond["mask"].sum() == 0  # empty mask


# ---------------------------------------------------------------------------------- end to end
def test_train_sample_like_and_fidelity(setup, folder, tmp_path):
    from fromnoise.evaluation.fidelity import evaluate_fidelity, held_out_targets
    from fromnoise.training.trainer import Trainer, TrainOptions

    data, conditioning, tables = setup
    opts = TrainOptions(out=str(tmp_path / "run"), steps=3, batch_size=4, warmup=1, sample_every=10**6,
                        save_every=10**6, num_samples=2, sample_steps=2, progress=False, hflip=True)
    trainer = Trainer(_config(conditioning), data, opts, tables)
    assert not trainer.batches.hflip  # a mask table turns flips off
    trainer.run()
    den = load(tmp_path / "run")
    np.testing.assert_array_equal(den.encoders["features"].normalizer.low,
                                  FeatureNormalizer.from_dict(conditioning["features"]["normalizer"]).low)
    cond, _ = build_condition(den, {"like": str(folder / "shape_01.png")}, 2)
    images = generate(den, 2, condition=cond, steps=2, guidance=2.0)
    assert images.shape == (2, 3, SIZE, SIZE) and torch.isfinite(images).all()

    targets, masks = held_out_targets(den, data.images[:4])
    assert targets.shape == (4, 32) and masks.shape == (4, 1, SIZE, SIZE)
    report = evaluate_fidelity(den, targets, masks, steps=2, guidance=1.0)
    assert list(report.table.index) == list(FEATURE_NAMES)
    assert np.isfinite(report.table["mae"]).all() and np.isfinite(report.table["mae_baseline"]).all()
    r = report.table["r"].to_numpy()
    varies = (report.requested.std(0) > 1e-6) & (report.measured.std(0) > 1e-6)
    assert np.isfinite(r[varies]).all() and np.isnan(r[~varies]).all()
    assert report.measured.min() >= 0 and report.measured.max() <= 1

    # the command line: held-out folder, tables written, the group table printed
    from click.testing import CliRunner

    from fromnoise.cli.evaluate_features import evaluate_features

    args = [str(tmp_path / "run"), "--data", str(folder), "-n", "3", "--steps", "1", "--no-baseline", "--no-plots",
            "--out", str(tmp_path / "fid")]
    res = CliRunner().invoke(evaluate_features, args)
    assert res.exit_code == 0, res.output
    assert "| color |" in res.output and (tmp_path / "fid" / "generated.png").exists()
    assert json.loads((tmp_path / "fid" / "fidelity.json").read_text())["settings"]["n"] == 3
