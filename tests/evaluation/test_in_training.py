"""In-training KID hook: logged every N steps, the best checkpoint kept atomically, resume-aware,
with a cheap stand-in feature network instead of Inception."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fromnoise.build import make_config
from fromnoise.errors import UserError
from fromnoise.evaluation import FeatureStats
from fromnoise.evaluation.in_training import keep_best, make_kid_hook, read_best
from fromnoise.training import Trainer, TrainOptions
from tests.synthetic import squares


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these models are tiny, and on a busy 2-core machine a second thread
    spends more time waiting for the other than computing."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pixel_features(images, batch_size=64, progress=True):
    """Stand-in for InceptionFeatures: a fixed random projection of the pixels to 32-d."""
    flat = images.reshape(len(images), -1).double() / 255
    proj = torch.randn(flat.shape[1], 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (flat @ proj / flat.shape[1] ** 0.5).numpy()


def reference(data):
    return FeatureStats.from_features(pixel_features(data.images), meta={"image_size": 8, "channels": 1})


def trainer(tmp_path, hook, steps):
    cfg = make_config("micro", image_size=8, channels=1)
    opts = TrainOptions(out=str(tmp_path / "run"), steps=steps, batch_size=16, lr=3e-3, warmup=5,
                        sample_every=10_000, save_every=10_000, num_samples=4, sample_steps=2, progress=False)
    return Trainer(cfg, squares(), opts, hooks=[hook])


def train(tmp_path, hook, steps):
    tr = trainer(tmp_path, hook, steps)
    tr.run()
    return tr


def metrics(run: Path):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_kid_is_logged_every_n_steps_and_the_best_checkpoint_kept(tmp_path):
    data = squares()
    hook = make_kid_hook(reference(data), every=2, n=8, steps=3, inception=pixel_features, kid_subsets=10)
    tr = train(tmp_path, hook, steps=6)
    run = tmp_path / "run"
    logged = [(m["step"], m["kid"]) for m in metrics(run) if "kid" in m]
    assert [s for s, _ in logged] == [2, 4, 6]
    assert [(s, k) for s, k, _ in hook.history] == logged
    best = read_best(run)
    kids = dict(logged)
    assert best["kid"] == min(kids.values()) and kids[best["step"]] == best["kid"]
    # best/ is a complete checkpoint of that step, and no temporary folder is left behind
    assert (run / "best" / "ema.safetensors").is_file() and (run / "best" / "config.json").is_file()
    assert json.loads((run / "best" / "trainer.json").read_text())["step"] == best["step"]
    assert not (run / "best.tmp").exists() and not (run / "best.old").exists()
    assert tr.step == 6


def test_the_same_weights_give_the_same_kid(tmp_path):
    """The hook draws the same seeds each time, so KID changes only when the weights do."""
    data = squares()
    hook = make_kid_hook(reference(data), every=1, n=8, steps=3, inception=pixel_features, kid_subsets=10)
    tr = trainer(tmp_path, hook, steps=1)
    assert hook.evaluate(tr) == pytest.approx(hook.evaluate(tr))


def test_generated_images_are_scored_in_their_own_range(tmp_path, monkeypatch):
    """generate() returns [0, 1]: a model that draws exactly the reference images scores KID ~0,
    not the KID of the same images washed out to grey (a [-1, 1] conversion would do that)."""
    data = squares()
    real = data.images.float() / 255  # what a perfect model's generate() would return
    monkeypatch.setattr("fromnoise.evaluation.in_training.generate", lambda model, n, **kw: real[:n])
    hook = make_kid_hook(reference(data), every=1, n=len(real), steps=3, inception=pixel_features, kid_subsets=10)
    kid, _ = hook.evaluate(trainer(tmp_path, hook, steps=1))
    washed = FeatureStats.from_features(pixel_features((data.images.float() / 2 + 127.5).round().to(torch.uint8)))
    from fromnoise.evaluation.fid import kid_from_features

    grey_kid, _ = kid_from_features(washed.features, reference(data).features, 10, len(real), 0)
    assert abs(kid) < 0.05 * grey_kid, (kid, grey_kid)


def test_a_worse_kid_does_not_replace_the_best(tmp_path):
    run = tmp_path / "run"
    ckpt = tmp_path / "step_a"
    ckpt.mkdir()
    (ckpt / "model.safetensors").write_bytes(b"a")
    keep_best(run, ckpt, {"step": 5, "kid": -1.0})  # better than anything the hook can measure
    data = squares()
    hook = make_kid_hook(reference(data), every=3, n=8, steps=2, inception=pixel_features, kid_subsets=5)
    tr = trainer(tmp_path, hook, steps=6)
    for step in range(1, 7):  # the hook alone, as the training loop calls it
        hook(tr, step)
    assert read_best(run)["step"] == 5 and (run / "best" / "model.safetensors").read_bytes() == b"a"
    assert len(hook.history) == 2


def test_keep_best_replaces_an_older_best(tmp_path):
    for name, step in (("one", 1), ("two", 2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "w").write_text(name)
        keep_best(tmp_path / "run", tmp_path / name, {"step": step, "kid": 1.0 / step})
    assert (tmp_path / "run" / "best" / "w").read_text() == "two" and read_best(tmp_path / "run")["step"] == 2


def test_a_dataset_name_is_featurised_at_the_trainers_resolution(tmp_path, monkeypatch):
    seen = {}

    def fake_reference_stats(dataset, image_size, channels, split, n, inception, progress):
        seen.update(dataset=dataset, image_size=image_size, channels=channels, split=split, n=n)
        return reference(squares())

    monkeypatch.setattr("fromnoise.evaluation.in_training.reference_stats", fake_reference_stats)
    hook = make_kid_hook("fashion-mnist", every=2, n=8, steps=2, inception=pixel_features, kid_subsets=5)
    tr = trainer(tmp_path, hook, steps=2)
    hook(tr, 1)
    hook(tr, 2)
    assert seen == {"dataset": "fashion-mnist", "image_size": 8, "channels": 1, "split": "train", "n": 1000}
    assert len(hook.history) == 1 and np.isfinite(hook.history[0][1])


@pytest.mark.parametrize("kwargs", [dict(every=0), dict(every=5, n=1), dict(every=5, reference=3)])
def test_bad_arguments_are_user_errors(kwargs):
    kwargs = {"reference": "fashion-mnist", **kwargs}
    with pytest.raises(UserError):
        make_kid_hook(**kwargs)
