"""The EMA of the weights, and gradient accumulation through the Trainer (accelerate).

Accumulation: k micro-batches of b images must give the gradient of one batch of k*b images, reach
the optimizer once per k micro-batches, be clipped only when complete, and be cleared between
optimizer steps. To compare the two runs image for image, the timestep and noise that the diffusion
objective draws for an image are fixed by the image's index instead of by the order of the draws.
"""

import pytest
import torch
from torch import nn

import fromnoise.training.diffusion_objective as objective_module
from fromnoise.build import make_config
from fromnoise.training import Trainer, TrainOptions
from fromnoise.training.ema import EMA
from tests.synthetic import squares

# ----------------------------------------------------------------------------------------------- EMA


def _scalar_model(value):
    m = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(value)
    return m


def test_ema_follows_the_warmed_up_decay():
    """ema_k = d_k ema_{k-1} + (1 - d_k) w_k with d_k = min(decay, (1 + k) / (10 + k)): from w0 towards
    constant live weights w1 the gap shrinks by the product of the d_k."""
    live = _scalar_model(0.0)
    ema = EMA(live, decay=0.9)
    with torch.no_grad():
        live.weight.fill_(1.0)
    gap = 1.0
    for k in range(1, 200):
        ema.update(live)
        gap *= min(0.9, (1 + k) / (10 + k))
        assert ema.model.weight.item() == pytest.approx(1.0 - gap, abs=1e-6), k
    assert ema.updates == 199
    # the warm-up ends where (1 + k) / (10 + k) reaches the decay (k = 80 for 0.9): later steps use 0.9
    assert min(0.9, (1 + 81) / (10 + 81)) == 0.9


def test_ema_of_changing_weights_is_their_weighted_average():
    live = _scalar_model(0.0)
    ema = EMA(live, decay=0.5)
    want = 0.0
    for k, w in enumerate([4.0, -2.0, 3.0, 7.0, 1.0], start=1):
        with torch.no_grad():
            live.weight.fill_(w)
        ema.update(live)
        d = min(0.5, (1 + k) / (10 + k))
        want = d * want + (1 - d) * w
        assert ema.model.weight.item() == pytest.approx(want, abs=1e-6)


def test_ema_is_a_frozen_copy_that_copies_buffers():
    live = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMA(live)
    assert not ema.model.training and not any(p.requires_grad for p in ema.model.parameters())
    before = [p.clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, ema.model.parameters()))  # not shared storage
    live.train()(torch.randn(8, 2))  # moves BatchNorm's running statistics
    ema.update(live)
    for b_ema, b in zip(ema.model.buffers(), live.buffers()):
        assert torch.equal(b_ema, b)


# -------------------------------------------------------------------------------- accumulation


class _FixedDraws:
    """Stands in for ``torch`` inside diffusion_objective.py (where the draws are made): ``randint`` and
    ``randn_like`` return each image's own timestep and noise (looked up by its index), so the draws do not
    depend on the batching."""

    def __init__(self, n_images, timesteps, shape):
        g = torch.Generator().manual_seed(123)
        self.t = torch.randint(0, timesteps, (n_images,), generator=g)
        self.noise = torch.randn((n_images, *shape), generator=g)
        self.indices = None

    def __getattr__(self, name):
        return getattr(torch, name)

    def randint(self, low, high, size, device=None):
        assert tuple(size) == (len(self.indices),)
        return self.t[self.indices].to(device)

    def randn_like(self, x):
        return self.noise[self.indices].to(x)


def _run(tmp_path, monkeypatch, batch_size, grad_accum, steps=2, grad_clip=1e9):
    """Train ``steps`` optimizer steps; returns the gradient seen at each real optimizer step (after
    clipping), the image indices of each step, whether the gradients were clear before each
    micro-batch, the final weights and the EMA weights."""
    data = squares(16, 8)
    draws = _FixedDraws(len(data), 1000, (1, 8, 8))
    monkeypatch.setattr(objective_module, "torch", draws)
    seen, cleared = [], []

    class Recording(Trainer):
        def train_step(self, x0, info):
            draws.indices = info["indices"].cpu()
            seen.append(draws.indices)
            cleared.append(all(p.grad is None or not p.grad.any() for p in self.denoiser.parameters()))
            return super().train_step(x0, info)

        def pictures(self):  # sample grids and the loss plot are not under test (and slow)
            pass

    cfg = make_config("micro", image_size=8, channels=1, prediction="eps", schedule="linear")
    opts = TrainOptions(out=str(tmp_path / f"run_b{batch_size}_k{grad_accum}"), steps=steps, batch_size=batch_size,
                        grad_accum=grad_accum, grad_clip=grad_clip, lr=1e-3, warmup=1, sample_every=10**6,
                        save_every=10**6, num_samples=1, sample_steps=1, progress=False, ema_decay=0.9)
    tr = Recording(cfg, data, opts)
    grads = []
    tr.optimizer.optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: grads.append([p.grad.clone() for p in tr.denoiser.parameters()]))
    tr.run()
    per_step = [torch.cat(seen[i * grad_accum:(i + 1) * grad_accum]).sort().values for i in range(steps)]
    weights = [p.detach().clone() for p in tr.denoiser.parameters()]
    ema = [p.detach().clone() for p in tr.ema.model.parameters()]
    return grads, per_step, cleared, weights, ema


def _close(a, b, rtol=1e-4, atol=1e-6):
    return all(torch.allclose(x, y, rtol=rtol, atol=atol) for x, y in zip(a, b))


@pytest.mark.parametrize("grad_clip", [1e9, 1e-2], ids=["unclipped", "clipped"])
def test_two_micro_batches_equal_one_big_batch(tmp_path, monkeypatch, grad_clip):
    """2 x 8 images with grad_accum=2 against 16 images at once, over two optimizer steps: the same
    images, the same gradient at each real step (so it is averaged, not summed, clipped once when
    complete, and cleared between steps), one optimizer step per 2 micro-batches, and the same
    weights and EMA after."""
    g_acc, seen_acc, clear_acc, w_acc, ema_acc = _run(tmp_path, monkeypatch, batch_size=8, grad_accum=2,
                                                      grad_clip=grad_clip)
    g_one, seen_one, clear_one, w_one, ema_one = _run(tmp_path, monkeypatch, batch_size=16, grad_accum=1,
                                                      grad_clip=grad_clip)
    assert len(g_acc) == len(g_one) == 2  # the optimizer stepped twice in both runs
    # gradients are clear before the first micro-batch of each step and kept within a step
    assert clear_acc == [True, False, True, False] and clear_one == [True, True]
    for a, b in zip(seen_acc, seen_one):
        assert torch.equal(a, b)
    for step in range(2):
        assert _close(g_acc[step], g_one[step]), step
    if grad_clip < 1:  # the clip bit: the gradient that reached the optimizer has norm grad_clip
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in g_acc[0]]))
        assert norm.item() == pytest.approx(grad_clip, rel=1e-4)
    assert _close(w_acc, w_one) and _close(ema_acc, ema_one)
    # and the comparison can fail: the first step's gradient is not the second's
    assert not _close(g_one[0], g_one[1])
