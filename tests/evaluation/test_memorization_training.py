"""In-training memorization checks (issue 25 item 2): logged to metrics.jsonl, on by default on a small
data set, one warning per rise of the memorized share, drawn on the Runs tab."""

import json
import pickle
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from fromnoise.build import make_config
from fromnoise.config import TrainingConfig
from fromnoise.config.training import SMALL_DATA, memorization_interval
from fromnoise.errors import UserError
from fromnoise.evaluation import in_training
from fromnoise.evaluation.in_training import WARN_SHARE, MemorizationHook, make_memorization_hook
from fromnoise.training import Trainer, TrainOptions
from fromnoise.web.runs_tab import metrics_markdown, with_memorization
from fromnoise.web.train_tab import run_loss_figure
from tests.cli_runner import run
from tests.synthetic import squares

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_hook_logs_the_memorized_share_every_n_steps(tmp_path):
    warnings = []
    hook = make_memorization_hook(every=2, n=6, steps=2, warn=warnings.append)
    opts = TrainOptions(out=str(tmp_path / "run"), steps=4, batch_size=8, lr=3e-3, warmup=1, sample_every=10_000,
                        save_every=10_000, num_samples=2, sample_steps=2, progress=False, log_every=1)
    Trainer(make_config("micro", image_size=8, channels=1), squares(16), opts, hooks=[hook]).run()
    logged = [r for r in records(tmp_path / "run") if "memorized_share" in r]
    assert [r["step"] for r in logged] == [2, 4]
    for r in logged:
        assert 0 <= r["memorized_share"] <= 1 and r["memorized_share"] * 6 == round(r["memorized_share"] * 6)
        assert r["memorized_d1"] > 0
    assert [s for s, _ in hook.history] == [2, 4]
    fig = with_memorization(run_loss_figure(tmp_path / "run"), tmp_path / "run")  # the Runs tab's plot
    assert any("memorized" in ax.get_ylabel() for ax in fig.axes)
    assert "memorized_share" in metrics_markdown(tmp_path / "run")


def test_a_model_that_returns_its_training_images_is_flagged(monkeypatch):
    """The measure the hook logs, on a stand-in 'model' whose samples are training images, then noise."""
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    trainer = SimpleNamespace(tables={}, ema=SimpleNamespace(model=None), data=SimpleNamespace(images=images),
                              batches=SimpleNamespace(hflip=False))
    samples = images[:8].float() / 255  # copies
    monkeypatch.setattr(in_training, "generate", lambda model, n, **kw: samples[:n])
    assert MemorizationHook(every=1, n=8).measure(trainer)["memorized_share"] == 1.0
    samples = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))  # new images
    assert MemorizationHook(every=1, n=8).measure(trainer)["memorized_share"] == 0.0


def test_a_run_trained_with_flips_has_its_mirrored_copies_flagged(monkeypatch):
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    samples = images[:8].flip(-1).float() / 255  # mirror images of training images
    monkeypatch.setattr(in_training, "generate", lambda model, n, **kw: samples[:n])
    flips = SimpleNamespace(tables={}, ema=SimpleNamespace(model=None), data=SimpleNamespace(images=images),
                            batches=SimpleNamespace(hflip=True))
    assert MemorizationHook(every=1, n=8).measure(flips)["memorized_share"] == 1.0
    flips.batches.hflip = False  # trained without flips: a mirror image is a new image
    assert MemorizationHook(every=1, n=8).measure(flips)["memorized_share"] == 0.0


class _Logger:
    def __init__(self):
        self.scalars_logged, self.notes = [], []

    def scalars(self, step, values):
        self.scalars_logged.append((step, values))

    def note(self, text):
        self.notes.append(text)


class _Trainer:
    def __init__(self):
        self.logger = _Logger()


def test_a_warning_once_per_rise_of_the_memorized_share():
    shares = iter([0.0, 0.05, 0.2, 0.25, 0.3, 0.5, 0.45, 1.0])
    warnings = []

    class Stub(MemorizationHook):
        def measure(self, trainer):
            return {"memorized_share": next(shares), "memorized_d1": 1.0}

    hook, trainer = Stub(every=10, n=64, warn=warnings.append), _Trainer()
    for step in range(10, 90, 10):
        hook(trainer, step)
        hook(trainer, step + 5)  # not a multiple of every: nothing measured
    assert [s for s, _ in trainer.logger.scalars_logged] == list(range(10, 90, 10))
    # above 10 % at step 30 (20 %), doubled at step 60 (50 %), doubled again at step 80 (100 %)
    assert len(warnings) == 3 and "step 30" in warnings[0] and "step 60" in warnings[1] and "step 80" in warnings[2]
    assert "20%" in warnings[0] and "--augment" in warnings[0]
    assert trainer.logger.notes == warnings  # and in log.txt
    assert WARN_SHARE == 0.10


def test_the_check_is_on_by_default_on_a_small_data_set_only():
    opts = TrainingConfig(sample_every=300)
    assert memorization_interval(opts, 500) == 300
    assert memorization_interval(opts, SMALL_DATA - 1) == 300
    assert memorization_interval(opts, SMALL_DATA) == 0
    assert memorization_interval(TrainingConfig(memorization_every=0), 100) == 0
    assert memorization_interval(TrainingConfig(memorization_every=7), 60_000) == 7
    with pytest.raises(UserError, match="memorization_every"):
        TrainingConfig(memorization_every=-1)
    with pytest.raises(UserError, match="--memorization-every"):
        MemorizationHook(every=0)
    hook = make_memorization_hook(every=5)  # spawned training processes (--processes N) get it pickled
    assert pickle.loads(pickle.dumps(hook)).every == 5


def test_train_on_a_small_folder_checks_by_default(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(6):
        img = Image.new("L", (8, 8), 0)
        img.paste(255, (i, 1, i + 2, 7))
        img.save(root / f"{i}.png")
    common = ("train", root, "--image-size", 8, "--preset", "micro", "--batch-size", 4, "--steps", 2,
              "--sample-every", 2, "--num-samples", 2, "--memorization-samples", 4, "--no-progress")
    run(*common, "--out", tmp_path / "on")
    assert [r["step"] for r in records(tmp_path / "on") if "memorized_share" in r] == [2]
    run(*common, "--out", tmp_path / "off", "--memorization-every", 0)
    assert not [r for r in records(tmp_path / "off") if "memorized_share" in r]
