"""One shared test base, run over every registered sampler."""

import pytest
import torch

from fromnoise.diffusion import Denoiser, get_schedule
from fromnoise.sampling import SAMPLERS, generate, timestep_grid
from fromnoise.sampling.samplers import randn

AB = get_schedule("cosine", 1000)


def oracle(x0):
    """A denoiser that knows x0: eps follows from x_t."""
    def denoise(x, t):
        ab = AB[t].item()
        return (x - ab**0.5 * x0) / (1 - ab) ** 0.5, x0
    return denoise


def gaussian_oracle(mu, s):
    """The exact posterior mean E[x0 | x_t] when the data is N(mu, s^2) per pixel."""
    def denoise(x, t):
        ab = AB[t].item()
        a = ab**0.5
        x0 = mu + (a * s**2 / (ab * s**2 + 1 - ab)) * (x - a * mu)
        return (x - a * x0) / (1 - ab) ** 0.5, x0
    return denoise


def test_grid_is_descending_and_ends_clean():
    for steps in (1, 7, 50, 1000):
        ts = timestep_grid(1000, steps)
        assert ts[0] == 999 and ts[-1] == -1 and len(ts) == steps + 1
        assert all(a > b for a, b in zip(ts[:-1], ts[1:]))


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_karras_and_logsnr_spacings_follow_their_formulas(schedule):
    """Karras: sigma_i^(1/7) even from min(sigma_max, 80) to sigma_min; logsnr: ln sigma even; both start at T-1."""
    import math

    from fromnoise.diffusion.schedules import get_schedule
    from fromnoise.errors import UserError

    ab = get_schedule(schedule, 1000)
    log_sigma = 0.5 * (torch.log1p(-ab) - torch.log(ab))
    top, bottom = min(float(log_sigma[-1]), math.log(80.0)), float(log_sigma[0])
    inside = log_sigma[log_sigma <= top + 0.5]
    step = float((inside[1:] - inside[:-1]).max())  # the coarsest spacing of the discrete levels in the range
    for steps in (5, 10, 20):
        for spacing in ("karras", "logsnr"):
            ts = timestep_grid(1000, steps, spacing, ab)
            assert ts[0] == 999 and ts[-1] == -1 and len(ts) == steps + 1
            assert all(a > b for a, b in zip(ts[:-1], ts[1:]))
            u = torch.linspace(0, 1, steps, dtype=torch.float64)[1:]
            if spacing == "karras":
                r = 7.0
                want = r * torch.log(math.exp(top / r) + u * (math.exp(bottom / r) - math.exp(top / r)))
            else:
                want = top + u * (bottom - top)
            got = log_sigma[torch.tensor(ts[1:-1])]
            assert (got - want).abs().max() < step + 1e-9, (spacing, ts)
    trailing = timestep_grid(1000, 10, "trailing", ab)
    assert trailing == timestep_grid(1000, 10) and trailing != timestep_grid(1000, 10, "karras", ab)
    with pytest.raises(UserError, match="spacing"):
        timestep_grid(1000, 10, "even", ab)


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("steps", [1, 3, 10, 50])
def test_oracle_recovers_x0(name, steps):
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    gens = [torch.Generator().manual_seed(i) for i in range(4)]
    x = randn(gens, x0.shape, "cpu")
    out = SAMPLERS[name](oracle(x0), x, timestep_grid(1000, steps), AB, generators=gens)
    assert torch.allclose(out, x0, atol=1e-4), (out - x0).abs().max()


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_gaussian_data_is_recovered_in_distribution(name):
    mu, s = 0.3, 0.5
    n = 4000
    gens = [torch.Generator().manual_seed(i) for i in range(n)]
    x = randn(gens, (n, 1, 1, 1), "cpu")
    out = SAMPLERS[name](gaussian_oracle(mu, s), x, timestep_grid(1000, 100), AB, generators=gens)
    assert out.mean().item() == pytest.approx(mu, abs=0.03)
    assert out.std().item() == pytest.approx(s, abs=0.03)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_callback_sees_every_step(name):
    seen = []
    x0 = torch.zeros(2, 1, 4, 4)
    ts = timestep_grid(1000, 5)
    SAMPLERS[name](oracle(x0), torch.randn(2, 1, 4, 4), ts, AB, callback=seen.append)
    assert [d["i"] for d in seen] == list(range(5))
    assert all(d["x"].shape == d["x0"].shape == (2, 1, 4, 4) for d in seen)


class _Net(torch.nn.Module):
    """A small deterministic network standing in for a trained one."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x, t, emb=None, ctx=None):
        return torch.tanh(self.conv(x)) * (t.float()[:, None, None, None] / 1000)


@pytest.fixture
def denoiser():
    return Denoiser(_Net(), AB, "eps", image_shape=(1, 8, 8))


def test_ddim_eta0_is_deterministic(denoiser):
    # x_T is fixed and only the generators change: with eta = 0 DDIM draws no fresh noise, so the images
    # are the same (DDPM, which draws noise at every step from the generators, gives other images here)
    x_T = torch.randn(3, *denoiser.image_shape, generator=torch.Generator().manual_seed(0))
    a = generate(denoiser, 3, sampler="ddim", steps=10, seed=5, noise=x_T)
    b = generate(denoiser, 3, sampler="ddim", steps=10, seed=6, noise=x_T)
    assert torch.equal(a, b)
    c = generate(denoiser, 3, sampler="ddim", steps=10, seed=5)  # other starting noise: other images
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_same_seed_same_image_whatever_the_batch(name, denoiser):
    big = generate(denoiser, 6, sampler=name, steps=8, seed=11, batch_size=6)
    small = generate(denoiser, 6, sampler=name, steps=8, seed=11, batch_size=2)
    assert torch.allclose(big, small, atol=1e-5)
    assert big.min() >= 0 and big.max() <= 1
