"""Trainer: the loss falls, resume continues, a kill while saving keeps the last checkpoint."""

import json
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from fromnoise.build import make_config
from fromnoise.errors import UserError
from fromnoise.training import Trainer, TrainOptions, list_checkpoints, read_checkpoint
from tests.synthetic import squares


def tiny_data(n=32, size=8):
    return squares(n, size, labelled=True)


def options(tmp_path, **kw):
    base = dict(out=str(tmp_path / "run"), batch_size=16, lr=3e-3, warmup=5, sample_every=10_000,
                save_every=10_000, num_samples=4, sample_steps=2, progress=False, log_every=1)
    base.update(kw)
    return TrainOptions(**base)


def test_loss_falls_on_a_fixed_tiny_set(tmp_path):
    cfg = make_config("micro", image_size=8, channels=1, prediction="eps", schedule="linear")
    tr = Trainer(cfg, tiny_data(), options(tmp_path, steps=150))
    tr.run()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    first, last = sum(losses[:15]) / 15, sum(losses[-15:]) / 15
    assert last < 0.7 * first, (first, last)
    assert (tmp_path / "run" / "loss.png").exists()
    assert (tmp_path / "run" / "samples" / "latest.png").exists()


def test_resume_continues_the_step_count(tmp_path):
    cfg = make_config("micro", image_size=8, channels=1)
    Trainer(cfg, tiny_data(), options(tmp_path, steps=6)).run()
    ckpt, _, state = read_checkpoint(tmp_path / "run")
    assert state["step"] == 6
    tr = Trainer(cfg, tiny_data(), options(tmp_path, steps=10))
    assert tr.step == 6
    # the resumed weights are the saved ones
    from safetensors.torch import load_file

    saved = load_file(str(ckpt / "model.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in tr.denoiser.state_dict().items() if k in saved)
    tr.run()
    assert read_checkpoint(tmp_path / "run")[2]["step"] == 10


def test_resume_refuses_another_architecture(tmp_path):
    Trainer(make_config("micro", image_size=8, channels=1), tiny_data(), options(tmp_path, steps=2)).run()
    with pytest.raises(UserError, match="different model"):
        Trainer(make_config("tiny", image_size=8, channels=1), tiny_data(), options(tmp_path, steps=4))


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    cfg = make_config("micro", image_size=8, channels=1)
    tr = Trainer(cfg, tiny_data(), options(tmp_path, steps=5))
    with torch.no_grad():
        next(tr.denoiser.net.parameters()).fill_(float("nan"))
    with pytest.raises(UserError, match="loss became nan"):
        tr.run()


def test_keeps_the_last_k(tmp_path):
    cfg = make_config("micro", image_size=8, channels=1)
    Trainer(cfg, tiny_data(), options(tmp_path, steps=8, save_every=2, keep=2)).run()
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000006", "step_00000008"]


def test_kill_while_saving_leaves_the_previous_checkpoint(tmp_path):
    """A process killed in the middle of writing checkpoint 2 leaves checkpoint 1 complete and loadable."""
    cfg = make_config("micro", image_size=8, channels=1)
    Trainer(cfg, tiny_data(), options(tmp_path, steps=3)).run()
    script = textwrap.dedent(f"""
        import os, signal, torch, safetensors.torch as st
        from fromnoise.build import make_config, build_denoiser
        from fromnoise.checkpoint import save_checkpoint
        real = st.save_file
        def dying(tensors, path, metadata=None):
            real(tensors, path, metadata=metadata)
            if path.endswith("ema.safetensors"):
                os.kill(os.getpid(), signal.SIGKILL)   # killed half-way through the checkpoint
        import fromnoise.checkpoint as ck
        ck.save_file = dying
        d = build_denoiser(make_config("micro", image_size=8, channels=1))
        save_checkpoint({str(tmp_path / 'run')!r}, 99, model=d, ema=d, config={{}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    import fromnoise

    d = fromnoise.load(tmp_path / "run")  # still the step-3 checkpoint
    assert d.step == 3
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000003"]


def test_learning_rate_warms_up_then_follows_a_cosine_to_zero():
    from fromnoise.training.trainer import learning_rate

    assert learning_rate(1.0, 0, 10, "none", 0.5) == pytest.approx(0.1)
    assert learning_rate(1.0, 50, 10, "none", 0.9) == 1.0
    assert learning_rate(1.0, 50, 10, "cosine", 0.0) == 1.0
    assert learning_rate(1.0, 50, 10, "cosine", 0.5) == pytest.approx(0.5)
    assert learning_rate(1.0, 50, 10, "cosine", 1.0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(UserError, match="cosine"):
        learning_rate(1.0, 0, 10, "step", 0.5)


def test_cosine_decay_spans_the_step_budget(tmp_path):
    cfg = make_config("micro", image_size=8, channels=1)
    Trainer(cfg, tiny_data(), options(tmp_path, steps=20, warmup=1, lr_decay="cosine")).run()
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(lrs) == 20 and lrs[0] == pytest.approx(3e-3)  # step k trains at progress k / 20
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 0.01 * 3e-3


def test_cpu_clock_budget_counts_process_time_not_wall_time(tmp_path, monkeypatch):
    """clock="cpu": --minutes is this process's CPU time (a fake clock that advances 20 s a read stops
    a 1-minute run within a few steps, while the wall clock barely moves)."""
    import fromnoise.training.schedule as trainer_module  # the loop's budget clock

    fake = {"now": 0.0}

    def process_time():
        fake["now"] += 20.0
        return fake["now"]

    monkeypatch.setattr(trainer_module.time, "process_time", process_time)
    tr = Trainer(make_config("micro", image_size=8, channels=1), tiny_data(),
                 options(tmp_path, minutes=1, clock="cpu"))
    tr.run()
    assert 1 <= tr.step <= 3, tr.step
    wall = Trainer(make_config("micro", image_size=8, channels=1), tiny_data(),
                   options(tmp_path / "wall", minutes=1 / 600, clock="wall"))
    wall.run()  # 0.1 s of wall time: the fake CPU clock is not consulted
    assert wall.step >= 1


def test_lognormal_t_sampling_trains_and_draws_mid_levels(tmp_path):
    cfg = make_config("micro", image_size=8, channels=1)
    tr = Trainer(cfg, tiny_data(), options(tmp_path, steps=3, t_sampling="lognormal"))
    torch.manual_seed(0)
    t, _ = tr.draw(torch.zeros(4096, 1, 8, 8), {})
    uniform = torch.randint(0, tr.denoiser.num_timesteps, (4096,))
    # ln sigma ~ N(-1.2, 1.2^2): far fewer draws in the last 30% of a cosine schedule (near-pure noise)
    late = tr.denoiser.num_timesteps * 0.7
    assert (t > late).float().mean() < 0.5 * (uniform > late).float().mean()
    tr.run()
    assert tr.step == 3


def test_uncertainty_loss_weighting_trains_saves_and_resumes_as_one_run(tmp_path):
    """--loss-weighting uncertainty: the weighting's network learns (leaves zero), is saved in every
    checkpoint, and 2 + 2 steps resume to the same model and weighting as 4 straight steps."""
    from safetensors.torch import load_file

    from fromnoise.training.trainer import WEIGHTING_FILE

    cfg = make_config("micro", image_size=8, channels=1)
    straight = Trainer(cfg, tiny_data(), options(tmp_path / "a", steps=4, loss_weighting="uncertainty"))
    straight.run()
    assert float(straight.weighting.linear.weight.detach().abs().sum()) > 0
    Trainer(cfg, tiny_data(), options(tmp_path / "b", steps=2, loss_weighting="uncertainty")).run()
    resumed = Trainer(cfg, tiny_data(), options(tmp_path / "b", steps=4, loss_weighting="uncertainty"))
    resumed.run()
    a, b = list_checkpoints(tmp_path / "a" / "run")[-1], list_checkpoints(tmp_path / "b" / "run")[-1]
    for name in ("model.safetensors", WEIGHTING_FILE):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    plain = Trainer(cfg, tiny_data(), options(tmp_path / "b", steps=5))  # switched off: the model goes on
    plain.run()
    assert "the optimizer starts afresh" in (tmp_path / "b" / "run" / "log.txt").read_text()
