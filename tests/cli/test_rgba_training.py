"""Pixel-space training on RGBA images learns the colour composited on white (the colour under transparent
pixels is arbitrary in a PNG), as the autoencoder does; the alpha channel is kept."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fromnoise.cli import train_run
from fromnoise.config import DataConfig, TrainingConfig


class _Captured(Exception):
    pass


def _run_until_the_trainer(folder, tmp_path, monkeypatch, **kwargs) -> dict:
    """run_training up to the Trainer it builds: what it would be given (``config``, ``images``)."""
    seen = {}

    class FakeTrainer:
        def __init__(self, config, images, *args, **kw):
            seen.update(config=config, images=images.images)
            raise _Captured

    monkeypatch.setattr(train_run, "Trainer", FakeTrainer)
    try:
        train_run.run_training(DataConfig(source=str(folder), channels=4),
                               TrainingConfig(out=str(tmp_path / "run"), steps=1, progress=False), preset="micro",
                               **kwargs)
    except _Captured:
        pass
    return seen


def test_rgba_pixel_training_sees_the_colour_on_white(tmp_path, monkeypatch):
    folder = tmp_path / "objects"
    folder.mkdir()
    for i in range(4):
        img = np.zeros((8, 8, 4), np.uint8)
        img[..., :3] = (10, 200, 30)  # green everywhere, visible only where alpha > 0
        img[2:6, 2:6, 3] = 255
        Image.fromarray(img, "RGBA").save(folder / f"o{i}.png")
    x = _run_until_the_trainer(folder, tmp_path, monkeypatch)["images"]
    assert x.shape == (4, 4, 8, 8)
    assert (x[:, :3, 0, 0] == 255).all()  # transparent: white, not the file's green
    assert x[0, :3, 3, 3].tolist() == [10, 200, 30] and (x[:, 3, 3, 3] == 255).all() and (x[:, 3, 0, 0] == 0).all()


def test_a_network_changed_by_model_overrides_gets_encoders_of_its_embedding_width(tmp_path, monkeypatch):
    """run_training(model_overrides=) (the flagship recipe screen's slim row) with features + mask: the
    encoders plug into the changed network's embedding, not the preset's."""
    from fromnoise.config import ConditioningConfig

    folder = tmp_path / "objects"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        img = np.zeros((16, 16, 4), np.uint8)
        img[..., :3] = rng.integers(0, 256, 3)
        img[3:12, 4:13, 3] = 255
        Image.fromarray(img, "RGBA").save(folder / f"o{i}.png")
    cfg = _run_until_the_trainer(folder, tmp_path, monkeypatch, model_overrides={"channels": (12, 24)},
                                 conditioning=ConditioningConfig(kind="features", mask=True))["config"]
    assert tuple(cfg["model"]["kwargs"]["channels"]) == (12, 24)
    assert cfg["conditioning"]["features"]["emb_dim"] == 48  # 4 x the first width, micro's own would be 32
