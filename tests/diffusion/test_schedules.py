import math

import pytest
import torch

from fromnoise.diffusion import SCHEDULES, get_schedule, q_sample, target, to_eps_x0
from fromnoise.errors import UserError


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("T", [10, 1000, 4000])
def test_alpha_bar_strictly_decreasing_in_unit_interval(name, T):
    ab = get_schedule(name, T)
    assert ab.dtype == torch.float64 and ab.shape == (T,)
    assert (ab > 0).all() and (ab < 1).all()
    assert (ab[1:] < ab[:-1]).all()


def test_linear_matches_ddpm_betas():
    ab = get_schedule("linear", 1000)
    assert ab[0].item() == pytest.approx(1 - 1e-4)
    betas_last = 1 - ab[-1] / ab[-2]
    assert betas_last.item() == pytest.approx(0.02, rel=1e-6)


def test_cosine_endpoints():
    ab = get_schedule("cosine", 1000)
    s = 0.008
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    f1 = math.cos((1 / 1000 + s) / (1 + s) * math.pi / 2) ** 2
    assert ab[0].item() == pytest.approx(f1 / f0, rel=1e-9)  # first step barely noises
    assert ab[-1].item() < 1e-4  # last step is (nearly) pure noise


def test_unknown_schedule_is_a_user_error():
    with pytest.raises(UserError, match="unknown noise schedule"):
        get_schedule("exponential")


def test_q_sample_mean_and_variance():
    ab = get_schedule("linear", 1000)
    x0 = torch.full((20000, 1, 1, 1), 0.7)
    for t_val in (10, 500, 990):
        t = torch.full((20000,), t_val)
        xt = q_sample(x0, t, torch.randn_like(x0), ab)
        a = ab[t_val].sqrt().item()
        assert xt.mean().item() == pytest.approx(0.7 * a, abs=0.03)
        assert xt.var().item() == pytest.approx(1 - ab[t_val].item(), abs=0.03)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_parametrisations_round_trip(prediction):
    ab = get_schedule("cosine", 1000)
    x0 = torch.randn(8, 3, 4, 4)
    eps = torch.randn_like(x0)
    t = torch.tensor([0, 1, 10, 100, 400, 700, 900, 998])
    xt = q_sample(x0, t, eps, ab)
    out = target(prediction, x0, eps, t, ab)
    eps_hat, x0_hat = to_eps_x0(prediction, out, xt, t, ab)
    assert torch.allclose(x0_hat, x0, atol=2e-3 if prediction == "eps" else 1e-4)
    assert torch.allclose(eps_hat, eps, atol=2e-3 if prediction == "x0" else 1e-4)


@pytest.mark.parametrize("shift", [2, 4, 8])
def test_shifted_cosine_divides_the_snr_by_the_shift_squared(shift):
    """simple diffusion (arxiv 2301.11093): SNR_shifted(t) = SNR_cosine(t) / shift^2 at every t."""
    plain, shifted = get_schedule("cosine", 1000), get_schedule(f"cosine-shift{shift}", 1000)
    ratio = (plain / (1 - plain)) / (shifted / (1 - shifted))
    assert torch.allclose(ratio, torch.full_like(ratio, float(shift) ** 2), rtol=1e-6)
