"""Trust: a resumed run equals an uninterrupted one, saves survive crashes, signals and full disks,
and a non-finite loss in any micro-batch stops training before it reaches the weights."""

import errno
import os
import stat

import pytest
import torch
from safetensors.torch import load_file

from fromnoise.build import make_config
from fromnoise.checkpoint import recover_checkpoints
from fromnoise.errors import UserError
from fromnoise.io import atomic_write, recover_dir, replace_dir, write_text
from fromnoise.training import Trainer, TrainOptions, list_checkpoints, read_checkpoint
from tests.synthetic import squares


def _config():
    # class-conditional, so condition dropout draws randomness too; dropout in the ResBlocks
    cfg = make_config("micro", image_size=8, channels=1, prediction="eps", schedule="linear",
                      conditioning={"class": {"num_classes": 2, "emb_dim": 32, "class_names": ["a", "b"]}},
                      model_overrides={"dropout": 0.2})
    return cfg


def _train(out, steps, **kw):
    data = squares(32, 8, labelled=True)
    base = dict(out=str(out), steps=steps, batch_size=8, lr=3e-3, warmup=3, sample_every=10_000,
                save_every=10_000, num_samples=2, sample_steps=2, progress=False, log_every=1, condition_dropout=0.3)
    opts = TrainOptions(**{**base, **kw})
    tr = Trainer(_config(), data, opts, {"labels": data.labels.long()})
    return tr


def _weights(run):
    ckpt = list_checkpoints(run)[-1]
    return {name: load_file(str(ckpt / name)) for name in ("model.safetensors", "ema.safetensors",
                                                          "optimizer.safetensors")}


def test_n_steps_equal_half_resume_half_bitwise(tmp_path):
    """8 steps in one run == 4 steps + resume + 4 steps, bit for bit (weights, EMA, AdamW moments)."""
    _train(tmp_path / "one", 8).run()
    _train(tmp_path / "two", 4).run()
    resumed = _train(tmp_path / "two", 8)
    assert resumed.step == 4
    resumed.run()
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for file in a:
        assert a[file].keys() == b[file].keys()
        diff = [k for k in a[file] if not torch.equal(a[file][k], b[file][k])]
        assert not diff, f"{file}: {len(diff)} tensors differ after resume, e.g. {diff[0]}"
    # the metrics of a resumed run are one line per step, no duplicates
    steps = [int(line.split('"step": ')[1].split(",")[0])
             for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path):
    tr = _train(tmp_path / "run", 1000)
    calls = {"n": 0}

    def hook(trainer, step):
        calls["n"] += 1
        if step == 3:
            os.kill(os.getpid(), __import__("signal").SIGTERM)

    tr.hooks.append(hook)
    with pytest.raises(UserError, match="SIGTERM at step 3; saved") as err:
        tr.run()
    assert err.value.exit_code == 143
    assert read_checkpoint(tmp_path / "run")[2]["step"] == 3
    assert calls["n"] == 3  # stopped after the step that saw the signal


def test_nan_in_an_early_micro_batch_stops_before_the_optimizer_step(tmp_path):
    """With gradient accumulation, a NaN in micro-batch 1 of 3 is caught; the weights stay finite."""
    tr = _train(tmp_path / "run", 4, grad_accum=3, save_every=1)
    real = tr.train_step
    count = {"n": 0}

    def poisoned(x0, info):
        count["n"] += 1
        out = real(x0, info)
        if count["n"] == 4:  # step 2, micro-batch 1 (the last one, 6, would be the only one checked before)
            out["loss"] = torch.tensor(float("nan"))
        return out

    tr.train_step = poisoned
    with pytest.raises(UserError, match=r"loss became nan at step 2 \(micro-batch 1 of 3\).*step_00000001"):
        tr.run()
    assert count["n"] == 4
    assert all(torch.isfinite(p).all() for p in tr.denoiser.parameters())


def test_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    _train(tmp_path / "run", 2).run()
    import fromnoise.checkpoint as ck

    real = ck.save_file

    def full(tensors, path, metadata=None):
        if path.endswith("ema.safetensors"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(ck, "save_file", full)
    tr = _train(tmp_path / "run", 4)
    with pytest.raises(UserError, match=r"step 4 .*disk is full.*step_00000002 is intact"):
        tr.run()
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000002"]
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))
    import fromnoise

    assert fromnoise.load(tmp_path / "run").step == 2


def test_resaving_a_step_is_crash_safe(tmp_path):
    """A crash between the two renames of a replace leaves NAME.old, which recovery puts back."""
    final = tmp_path / "checkpoints" / "step_00000005"
    final.mkdir(parents=True)
    (final / "model.safetensors").write_text("old")
    (final / "config.json").write_text("{}")
    # simulate the crash: the old copy moved aside, the new one not yet renamed in
    os.replace(final, final.with_name(final.name + ".old"))
    (tmp_path / "checkpoints" / "step_00000006.tmp").mkdir()
    assert list_checkpoints(tmp_path) == []
    notes = recover_checkpoints(tmp_path)
    assert any("restored step_00000005" in n for n in notes) and any("unfinished" in n for n in notes)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000005"]
    assert (final / "model.safetensors").read_text() == "old"


def test_replace_dir_replaces_and_never_leaves_no_copy(tmp_path):
    final, new = tmp_path / "best", tmp_path / "best.tmp"
    final.mkdir()
    (final / "a").write_text("1")
    new.mkdir()
    (new / "a").write_text("2")
    replace_dir(new, final)
    assert (final / "a").read_text() == "2"
    assert not new.exists() and not (tmp_path / "best.old").exists()
    assert recover_dir(final) is None


def test_keep_best_recovers_best_old(tmp_path):
    from fromnoise.evaluation.in_training import keep_best, read_best, recover_best

    ckpt = tmp_path / "checkpoints" / "step_00000001"
    ckpt.mkdir(parents=True)
    (ckpt / "model.safetensors").write_text("w")
    keep_best(tmp_path, ckpt, {"step": 1, "kid": 0.5})
    os.replace(tmp_path / "best", tmp_path / "best.old")  # a crash inside the next swap
    assert read_best(tmp_path) is None
    assert "restored best" in recover_best(tmp_path)
    assert read_best(tmp_path)["kid"] == 0.5


def test_atomic_write_keeps_the_umask_and_leaves_no_temp(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_text(tmp_path / "x.json", "{}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert os.umask(0o027) == 0o027  # the process umask was never changed
    finally:
        os.umask(old)

    def broken(tmp):
        open(tmp, "w").write("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(tmp_path / "x.json", broken)
    assert (tmp_path / "x.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
