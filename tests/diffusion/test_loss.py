"""The training loss and its min-SNR-gamma weights (Hang et al. 2023, arxiv 2303.09556).

Min-SNR-gamma is defined in x0 space: the loss is min(SNR_t, gamma) ||x0_hat - x0||^2 whatever the
network predicts. So the test converts every parametrisation's output to x0_hat with the one
converter and checks that identity; it does not restate the per-target weight formulas.
"""

import pytest
import torch

from fromnoise.diffusion import (
    PREDICTIONS,
    diffusion_loss,
    get_schedule,
    min_snr_weight,
    q_sample,
    snr,
    target,
    to_eps_x0,
)

AB = get_schedule("cosine", 1000)


def _batch(b=64):
    x0 = torch.rand(b, 1, 4, 4) * 2 - 1
    noise = torch.randn(b, 1, 4, 4)
    t = torch.linspace(0, 999, b).round().long()  # from SNR ~ 4e4 down to ~ 1e-9
    return x0, noise, t, q_sample(x0, t, noise, AB)


def _x0_mse(x0_hat, x0):
    return (x0_hat - x0).pow(2).flatten(1).mean(1)


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("gamma", [1.0, 5.0])
def test_min_snr_loss_is_the_clipped_snr_times_the_x0_error(prediction, gamma):
    """For any network output, the weighted loss equals min(SNR, gamma) * mse(x0_hat, x0)."""
    x0, noise, t, x_t = _batch()
    out = target(prediction, x0, noise, t, AB) + 0.3 * torch.randn_like(x0)  # an imperfect network
    _, x0_hat = to_eps_x0(prediction, out, x_t, t, AB)
    loss = diffusion_loss(out, target(prediction, x0, noise, t, AB), t, AB, prediction, min_snr_gamma=gamma)
    want = snr(AB, t).clamp(max=gamma).float() * _x0_mse(x0_hat, x0)
    assert loss.shape == (64,)
    assert torch.allclose(loss, want, rtol=2e-3, atol=1e-7), (loss - want).abs().max()


def test_min_snr_loss_is_the_same_whatever_the_parametrisation():
    """One prediction of x0, expressed as the eps, x0 and v outputs that mean it, costs the same."""
    x0, noise, t, x_t = _batch()
    x0_hat = x0 + 0.2 * torch.randn_like(x0)
    a, s = AB[t].sqrt().float().view(-1, 1, 1, 1), (1 - AB[t]).sqrt().float().view(-1, 1, 1, 1)
    eps_hat = (x_t - a * x0_hat) / s
    outputs = {"eps": eps_hat, "x0": x0_hat, "v": a * eps_hat - s * x0_hat}
    losses = {p: diffusion_loss(o, target(p, x0, noise, t, AB), t, AB, p, min_snr_gamma=5.0)
              for p, o in outputs.items()}
    assert torch.allclose(losses["eps"], losses["x0"], rtol=2e-3, atol=1e-7)
    assert torch.allclose(losses["v"], losses["x0"], rtol=2e-3, atol=1e-7)


def test_min_snr_weights_at_the_two_ends():
    """Where SNR <= gamma (noisy t) the eps weight is 1 (the usual eps loss) and the x0 weight is SNR;
    where SNR >> gamma the eps weight is gamma / SNR, so the easy steps stop dominating."""
    s = torch.tensor([0.01, 1.0, 5.0, 50.0, 5000.0], dtype=torch.float64)
    assert torch.allclose(min_snr_weight("eps", s, 5.0), torch.tensor([1.0, 1.0, 1.0, 0.1, 0.001], dtype=torch.float64))
    assert torch.allclose(min_snr_weight("x0", s, 5.0), torch.tensor([0.01, 1.0, 5.0, 5.0, 5.0], dtype=torch.float64))
    assert torch.allclose(min_snr_weight("v", s, 5.0), s.clamp(max=5.0) / (s + 1))


def test_without_gamma_the_loss_is_the_plain_mse_per_sample():
    x0, noise, t, _ = _batch(8)
    out = torch.randn_like(x0)
    want = (out - noise).pow(2).flatten(1).mean(1)
    for gamma in (None, 0):
        assert torch.allclose(diffusion_loss(out, noise, t, AB, "eps", min_snr_gamma=gamma), want)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_lognormal_timesteps_have_edm_moments_of_log_sigma(schedule):
    """ln sigma_t of the drawn timesteps is N(-1.2, 1.2^2) (EDM's P_mean, P_std), up to the grid."""
    from fromnoise.diffusion import lognormal_timesteps

    ab = get_schedule(schedule, 1000)
    torch.manual_seed(0)
    t = lognormal_timesteps(200_000, ab)
    assert t.dtype == torch.int64 and t.min() >= 0 and t.max() <= 999
    log_sigma = 0.5 * (torch.log1p(-ab[t].double()) - torch.log(ab[t].double()))
    # the schedule's sigma range covers ln sigma in about [-4.7, 5] (cosine) : the tails are kept
    assert abs(log_sigma.mean().item() - (-1.2)) < 0.03, log_sigma.mean()
    assert abs(log_sigma.std().item() - 1.2) < 0.03, log_sigma.std()


def test_lognormal_timesteps_go_to_the_nearest_level_and_clip_at_the_ends(monkeypatch):
    from fromnoise.diffusion import lognormal_timesteps

    ab = get_schedule("cosine", 1000)
    log_sigma = 0.5 * (torch.log1p(-ab.double()) - torch.log(ab.double()))
    between = 0.6 * log_sigma[500].item() + 0.4 * log_sigma[501].item()
    wanted = torch.tensor([-50.0, log_sigma[10].item() + 1e-6, between, 50.0])
    monkeypatch.setattr(torch, "randn", lambda n, device=None: (wanted[:n] + 1.2) / 1.2)
    assert lognormal_timesteps(4, ab).tolist() == [0, 10, 500, 999]


def test_uncertainty_weighting_learns_the_log_of_the_loss_at_each_noise_level():
    """EDM2's weighting (arxiv 2312.02696): minimising loss/exp(u) + u over u(sigma) puts u at ln E[loss | sigma].
    Losses with a known mean per level (exponentially distributed, mean m(sigma) spanning 3 decades) train
    u from zero; it ends at ln m within 0.15 nats across the levels."""
    from fromnoise.diffusion import UncertaintyWeighting, uncertainty_weighted

    torch.manual_seed(0)
    weighting = UncertaintyWeighting()
    opt = torch.optim.Adam(weighting.parameters(), lr=0.05)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 800)  # measured: max error 0.05 after 800 steps

    def true_log_mean(ls):
        return -2.0 + 1.5 * torch.sin(ls)  # ln m(sigma): smooth, between -3.5 and -0.5

    for _ in range(800):
        ls = torch.empty(256).uniform_(-3, 3)
        losses = -torch.log(torch.rand(256)) * true_log_mean(ls).exp()  # Exp(mean m): a noisy per-sample loss
        opt.zero_grad()
        uncertainty_weighted(losses, weighting(ls)).mean().backward()
        opt.step()
        decay.step()
    grid = torch.linspace(-2.5, 2.5, 21)
    with torch.no_grad():
        err = (weighting(grid) - true_log_mean(grid)).abs().max()
    assert err < 0.15, float(err)


def test_uncertainty_weighting_starts_as_the_plain_loss():
    from fromnoise.diffusion import UncertaintyWeighting, uncertainty_weighted

    u = UncertaintyWeighting()(torch.linspace(-5, 5, 7))
    assert torch.equal(u, torch.zeros(7))
    losses = torch.rand(7)
    torch.testing.assert_close(uncertainty_weighted(losses, u), losses)
