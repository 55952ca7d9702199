"""The kill harness, 3 kills (bench/bench_kill.py runs 25): SIGKILL a real ``fromnoise train`` (and
``fromnoise train-autoencoder``) at random moments and inside a checkpoint write, rerun the same command,
and check what survives."""

import sys

import pytest
from safetensors.torch import load_file

from bench import bench_kill
from bench.bench_kill import run_harness
from fromnoise.autoencoder import load_autoencoder
from fromnoise.checkpoint import list_checkpoints


@pytest.mark.slow
def test_three_kills_lose_at_most_one_interval_and_end_bitwise_equal(tmp_path):
    res = run_harness(tmp_path, kills=3, steps=24, save_every=4, seed=3, log=lambda *_: None)
    assert res["failures"] == []
    assert res["kills_survived"] == res["kills_tried"] >= 1
    assert res["max_steps_lost"] <= 4
    assert res["final_bitwise_equal"]


def _autoencoder_command(folder, out, steps, save_every):
    """``fromnoise train-autoencoder`` on the harness's folder: the same loop with the autoencoder objective
    (and its discriminator from step 2, so a kill can land between its step and a checkpoint)."""
    return [sys.executable, "-m", "fromnoise", "train-autoencoder", str(folder), "--factor", "4", "--widths", "8,8,8",
            "--channels", "1", "--steps", str(steps), "--batch-size", "8", "--save-every", str(save_every),
            "--sample-every", "100000", "--log-every", "1", "--keep", "2", "--seed", "0", "--disc-start", "2",
            "--no-progress", "--out", str(out)]


def _autoencoder_checkpoints(run):
    """(checkpoints, newest step, error) after loading every autoencoder checkpoint on disk."""
    ckpts = list_checkpoints(run)
    for ckpt in ckpts:
        try:
            load_autoencoder(ckpt)
        except Exception as err:  # any failure to load is what the harness looks for
            return len(ckpts), -1, f"{ckpt.name}: {err}"
    return len(ckpts), int(ckpts[-1].name.split("_")[1]) if ckpts else 0, None


def _autoencoder_weights(run):
    ckpt = list_checkpoints(run)[-1]
    return {f: load_file(str(ckpt / f)) for f in ("model.safetensors", "optimizer.safetensors",
                                                   "discriminator.safetensors", "disc_optimizer.safetensors")}


@pytest.mark.slow
def test_autoencoder_survives_kills_and_ends_bitwise_equal(tmp_path, monkeypatch):
    """The same harness on ``fromnoise train-autoencoder``: the one loop's resume covers its objective too."""
    monkeypatch.setattr(bench_kill, "train_command", _autoencoder_command)
    monkeypatch.setattr(bench_kill, "check_checkpoints", _autoencoder_checkpoints)
    monkeypatch.setattr(bench_kill, "final_weights", _autoencoder_weights)
    res = bench_kill.run_harness(tmp_path, kills=2, steps=12, save_every=3, seed=5, log=lambda *_: None)
    assert res["failures"] == []
    assert res["kills_survived"] == res["kills_tried"] >= 1
    assert res["max_steps_lost"] <= 3
    assert res["final_bitwise_equal"]
