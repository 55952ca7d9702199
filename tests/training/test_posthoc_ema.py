"""EDM2's power-function EMA and post-hoc EMA (arxiv 2312.02696, section 3): the profile's width,
the per-step decay, the reconstruction of an EMA that was tracked directly, and the trainer / CLI path."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from fromnoise.build import make_config
from fromnoise.training import Trainer, list_checkpoints
from fromnoise.training.ema import (
    EMA,
    PostHocEMA,
    gamma_to_std,
    list_snapshots,
    posthoc_coefficients,
    reconstruct,
    std_to_gamma,
)
from fromnoise.training.trainer import POSTHOC_FILE
from tests.cli_runner import run
from tests.training.test_trainer import options, tiny_data


def test_std_and_gamma_are_inverse_and_match_edm2():
    """EDM2 tracks sigma_rel 0.05 and 0.10 with gamma 16.97 and 6.94."""
    assert std_to_gamma(0.05) == pytest.approx(16.97, abs=0.01)
    assert std_to_gamma(0.10) == pytest.approx(6.94, abs=0.01)
    for std in (0.02, 0.07, 0.15, 0.25):
        assert gamma_to_std(std_to_gamma(std)) == pytest.approx(std, rel=1e-9)
    with pytest.raises(ValueError):
        std_to_gamma(0.3)  # wider than a uniform average of the whole run


def test_power_ema_of_a_ramp_sits_where_its_profile_says():
    """Live weights w_t = t: the power EMA is the profile's mean, (gamma + 1) / (gamma + 2) * t, and its
    spread around it is sigma_rel * t (an exponential EMA would lag by a fixed number of steps instead)."""
    live = nn.Linear(1, 1, bias=False)
    ema = EMA(live, std=0.10)
    g = ema.gamma
    for t in range(1, 2001):
        with torch.no_grad():
            live.weight.fill_(float(t))
        ema.update(live)
        if t in (500, 2000):
            assert ema.model.weight.item() == pytest.approx((g + 1) / (g + 2) * t, rel=2e-3), t
    assert ema.beta(1) == 0.0  # the first update copies the live weights


def _trajectory(steps=400, every=20, targets=(0.07, 0.15)):
    """A drifting random walk of a small network's weights; snapshots of the two tracked EMAs every
    ``every`` steps, and EMAs of the ``targets`` widths tracked directly alongside."""
    torch.manual_seed(0)
    net = nn.Linear(20, 10)
    tracker = PostHocEMA(net)
    direct = {s: EMA(net, std=s) for s in targets}
    snaps = []
    for t in range(1, steps + 1):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.1 * torch.randn_like(p) + 0.02)
        tracker.update(net)
        for e in direct.values():
            e.update(net)
        if t % every == 0:
            snaps.append((t, {k: v.clone() for k, v in tracker.state().items()}))
    return tracker, direct, snaps


def _flat(state, prefix=""):
    return torch.cat([v.flatten() for k, v in state.items() if k.startswith(prefix)]).double()


def test_posthoc_reconstructs_an_ema_that_was_tracked_directly():
    """The least-squares combination of the snapshots is the EMA of another width, to within 1% of how far
    the two tracked EMAs are from it."""
    tracker, direct, snaps = _trajectory()
    entries, vectors = [], []
    for t, state in snaps:
        for e in tracker.emas:
            entries.append((float(t), e.gamma))
            vectors.append(_flat(state, f"std{e.std:.3f}/"))
    for std, ema in direct.items():
        x = posthoc_coefficients(entries, (400.0, ema.gamma))
        rebuilt = sum(float(c) * v for c, v in zip(x, vectors))
        truth = _flat(ema.model.state_dict())
        nearest = min((vectors[-2] - truth).norm(), (vectors[-1] - truth).norm())
        assert (rebuilt - truth).norm() < 0.01 * nearest, std
        assert x.sum() == pytest.approx(1.0, abs=1e-2)  # an average of averages


def test_trainer_saves_snapshots_resumes_them_and_posthoc_ema_makes_a_run(tmp_path):
    """--ema-snapshots: snapshots every N steps and at each checkpoint; 3 + 3 steps resumed give the same
    trackers as 6 straight; a resume drops the snapshots after its checkpoint; posthoc-ema writes a run
    that samples, whose EMA is the reconstruction."""
    cfg = make_config("micro", image_size=8, channels=1)
    a = Trainer(cfg, tiny_data(), options(tmp_path / "a", steps=6, ema_snapshots=2))
    a.run()
    assert [s for s, _ in list_snapshots(a.out)] == [2, 4, 6]
    b_opts = options(tmp_path / "b", steps=3, ema_snapshots=2)
    Trainer(cfg, tiny_data(), b_opts).run()
    assert [s for s, _ in list_snapshots(b_opts.out)] == [2, 3]
    (tmp_path / "b" / "run" / "ema_snapshots" / "step_00000005.safetensors").write_bytes(b"stale")
    Trainer(cfg, tiny_data(), options(tmp_path / "b", steps=6, ema_snapshots=2)).run()
    assert [s for s, _ in list_snapshots(b_opts.out)] == [2, 3, 4, 6]
    ta, tb = (load_file(str(list_checkpoints(d)[-1] / POSTHOC_FILE)) for d in (a.out, tmp_path / "b" / "run"))
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)

    run("posthoc-ema", a.out, "--std", "0.08")
    new = a.out / "posthoc_ema" / "std_0.080"
    ckpt = list_checkpoints(new)[-1]
    rebuilt, used = reconstruct(a.out, 0.08)
    ema = load_file(str(ckpt / "ema.safetensors"))
    assert all(torch.equal(ema[k], rebuilt[k]) for k in ema) and used["snapshots"] == [2, 4, 6]
    assert json.loads((ckpt / "trainer.json").read_text())["posthoc_ema"]["std"] == 0.08
    assert not torch.equal(ema[next(iter(ema))], load_file(str(list_checkpoints(a.out)[-1] / "ema.safetensors"))[
        next(iter(ema))])
    run("sample", new, "-n", "2", "--steps", "2", "--out", tmp_path / "s")
    assert (tmp_path / "s" / "grid.png").exists()


def test_posthoc_ema_errors_are_one_line(tmp_path):
    cfg = make_config("micro", image_size=8, channels=1)
    plain = Trainer(cfg, tiny_data(), options(tmp_path, steps=2))
    plain.run()
    res = run("posthoc-ema", plain.out, ok=False)
    assert res.exit_code == 2 and "holds no EMA snapshots" in res.output and "--ema-snapshots" in res.output
    res = run("posthoc-ema", plain.out, "--std", "0.5", ok=False)
    assert res.exit_code == 2 and "(0, 0.288)" in res.output
    assert "Traceback" not in res.output
    snap = Trainer(cfg, tiny_data(), options(tmp_path / "s", steps=2, ema_snapshots=1))
    snap.run()
    first = list_snapshots(snap.out)[0][1]
    first.write_bytes(first.read_bytes()[:100])  # a truncated snapshot
    res = run("posthoc-ema", snap.out, ok=False)
    assert res.exit_code == 2 and "cannot read the EMA snapshot" in res.output and "Traceback" not in res.output
    assert not (snap.out / "posthoc_ema").exists()


def test_power_ema_option_trains(tmp_path):
    """--ema-std: the sampling EMA follows the power profile (its decay at step t is (1 - 1/t)^(gamma+1))."""
    cfg = make_config("micro", image_size=8, channels=1)
    tr = Trainer(cfg, tiny_data(), options(tmp_path, steps=3, ema_std=0.1))
    tr.run()
    assert tr.ema.gamma == pytest.approx(std_to_gamma(0.1)) and tr.ema.updates == 3
    assert tr.ema.beta(3) == pytest.approx((2 / 3) ** (std_to_gamma(0.1) + 1))
    assert np.isfinite(float(next(tr.ema.model.parameters()).sum()))
