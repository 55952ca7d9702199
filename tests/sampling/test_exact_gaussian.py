"""Samplers against closed-form answers: for Gaussian data the exact denoiser, the exact
probability-flow ODE solution and the exact marginals are known, so a wrong formula in any
middle step shows as an error that does not shrink at the solver's order.

Data: x0 ~ N(mu, s^2) independently per pixel (diagonal), with one stiff pixel (s = 0.05).
With a = sqrt(alpha_bar), x_t = a x0 + sqrt(1 - alpha_bar) eps has the marginal N(a mu, std^2),
std^2 = alpha_bar s^2 + 1 - alpha_bar, and

- the exact denoiser is the posterior mean E[x0 | x_t] = mu + (a s^2 / std^2) (x_t - a mu);
- the probability-flow ODE (Song et al. 2021, arxiv 2011.13456) maps x_t to
  x_t' = a' mu + (std' / std) (x_t - a mu), an affine map whatever the step count.

The schedule is a smooth truncated cosine, alpha_bar = cos^2(1.5 u) at u = (t + 1) / T with
T = 1024, so the trailing grids of 2^k steps are nested (every coarse grid point is on every finer
grid) and all solvers can be compared at the same point u = 1/8, before the final jump to the clean
image (where every sampler returns the denoiser's x0, which would hide the middle steps).
Everything runs in float64.
"""

import math

import pytest
import torch

import fromnoise.sampling.samplers as samplers_module
from fromnoise.diffusion import get_schedule
from fromnoise.sampling import SAMPLERS, timestep_grid

T = 1024
AB = torch.cos(1.5 * (torch.arange(T, dtype=torch.float64) + 1) / T) ** 2  # (T,) from 1 - 2e-6 down to 5e-3
MU = torch.tensor([0.3, -0.2, 0.0, 0.5], dtype=torch.float64).view(1, 1, 1, 4)
S = torch.tensor([0.05, 0.3, 1.0, 2.0], dtype=torch.float64).view(1, 1, 1, 4)

# each deterministic (probability-flow ODE) solver and its order
ODE_ORDER = {"ddim": 1, "euler": 1, "dpmpp_2m": 2, "heun": 2}
# each stochastic sampler: (options, its usual step count on the default schedule, the order at
# which its variance error must shrink, less 0.2: measured 0.93, 0.93, 0.97, 1.69)
STOCHASTIC = {"ddpm": ({}, 1000, 1), "ddim_eta1": ({"eta": 1.0}, 1000, 1),
              "ddim_eta0.5": ({"eta": 0.5}, 1000, 1), "dpmpp_2m_sde": ({}, 200, 1.5)}


def _ab(alpha_bar, t):
    return 1.0 if t < 0 else float(alpha_bar[t])


def marginal_std(ab, s):
    """Standard deviation of x_t when x0 ~ N(mu, s^2)."""
    return (ab * s**2 + 1 - ab) ** 0.5


def exact_denoiser(mu, s, alpha_bar):
    """denoise(x, t) -> (eps, x0) with x0 the exact posterior mean E[x0 | x_t]; mu, s broadcast
    against x. ``constant`` picks which part of x the offset mu - c a mu is added to (the moment
    test below carries a constant term in one slot)."""
    def denoise(x, t):
        ab = _ab(alpha_bar, t)
        a = ab**0.5
        c = a * s**2 / marginal_std(ab, s) ** 2
        x0 = c * x + (mu - c * a * mu) * denoise.constant
        return (x - a * x0) / (1 - ab) ** 0.5, x0
    denoise.constant = 1.0
    return denoise


def exact_flow(x, ab_from, ab_to, mu, s):
    """The exact probability-flow ODE solution from alpha_bar = ab_from to ab_to (affine in x)."""
    return ab_to**0.5 * mu + marginal_std(ab_to, s) / marginal_std(ab_from, s) * (x - ab_from**0.5 * mu)


def fitted_order(steps, errors):
    """Least-squares slope of -log(error) against log(steps)."""
    lx = torch.log(torch.tensor(steps, dtype=torch.float64))
    ly = torch.log(torch.tensor(errors, dtype=torch.float64))
    lx = lx - lx.mean()
    return float(-(lx * (ly - ly.mean())).sum() / (lx * lx).sum())


def test_every_sampler_has_an_exact_test():
    """A new sampler must be listed here, as an ODE solver with an order or as a stochastic one."""
    stochastic = {name.split("_eta")[0] for name in STOCHASTIC}
    assert set(ODE_ORDER) | stochastic == set(SAMPLERS)


def test_exact_flow_is_a_flow():
    """The closed form itself: composing two legs gives the direct map, and the flow carries the
    marginal N(a mu, std^2) at one alpha_bar to the marginal at another."""
    x = torch.linspace(-3, 3, 7, dtype=torch.float64).view(7, 1, 1, 1)
    direct = exact_flow(x, 0.01, 0.9, MU, S)
    assert torch.allclose(exact_flow(exact_flow(x, 0.01, 0.3, MU, S), 0.3, 0.9, MU, S), direct, atol=1e-12)
    assert torch.allclose(exact_flow(0.01**0.5 * MU, 0.01, 0.9, MU, S), 0.9**0.5 * MU, atol=1e-12)
    z = torch.randn(20_000, 1, 1, 4, dtype=torch.float64)
    out = exact_flow(0.01**0.5 * MU + marginal_std(0.01, S) * z, 0.01, 1.0, MU, S)
    assert torch.allclose(out.std(0, keepdim=True), S, rtol=0.03)


def _ode_errors(name, steps_list, u=1 / 8):
    """Max error of the solver's x at t = T u - 1 (a point of every grid), and of its final output."""
    z = torch.linspace(-3, 3, 7, dtype=torch.float64).view(7, 1, 1, 1)
    ab_start, t_check = _ab(AB, T - 1), round(T * u) - 1
    x_start = ab_start**0.5 * MU + marginal_std(ab_start, S) * z  # 7 starts from -3 to 3 marginal stds
    want_mid = exact_flow(x_start, ab_start, _ab(AB, t_check), MU, S)
    want_end = exact_flow(x_start, ab_start, 1.0, MU, S)
    mid, end = [], []
    for steps in steps_list:
        seen = {}
        out = SAMPLERS[name](exact_denoiser(MU, S, AB), x_start.clone(), timestep_grid(T, steps), AB,
                             callback=lambda d, seen=seen: seen.__setitem__(d["t"], d["x"]))
        assert out.dtype == torch.float64
        mid.append((seen[t_check] - want_mid).abs().max().item())
        end.append((out - want_end).abs().max().item())
    return mid, end


@pytest.mark.parametrize("name", list(ODE_ORDER))
def test_ode_solver_error_shrinks_at_its_order(name):
    """DDIM and Euler are first order, DPM-Solver++(2M) and Heun second order: doubling the steps
    divides the error by about 2^order (fitted at u = 1/8 over 32..256 steps: DDIM and Euler 0.99,
    DPM-Solver++(2M) 1.89, Heun 2.06)."""
    steps = [32, 64, 128, 256]
    mid, end = _ode_errors(name, steps)
    order = ODE_ORDER[name]
    p = fitted_order(steps, mid)
    assert abs(p - order) < 0.25, (p, mid)
    # each doubling helps by at least 2^(order - 0.5): no plateau hidden behind the fit
    assert all(a / b > 2 ** (order - 0.5) for a, b in zip(mid[:-1], mid[1:])), mid
    # and the final output (the denoiser's x0 at the last grid point) converges to the exact x0 too
    assert fitted_order(steps, end) > order - 0.5, end
    assert end[-1] < (0.05 if order == 1 else 2e-3), end


def test_ddim_and_euler_are_the_same_solver():
    """DDIM (eta = 0) is Euler's method on the variance-exploding form of the same ODE (Karras et
    al. 2022, section 4): the two must agree to round-off on any grid."""
    x = torch.randn(5, 1, 1, 4, dtype=torch.float64)
    for steps in (3, 17, 64):
        ts = timestep_grid(T, steps)
        a = SAMPLERS["ddim"](exact_denoiser(MU, S, AB), x, ts, AB)
        b = SAMPLERS["euler"](exact_denoiser(MU, S, AB), x, ts, AB)
        assert torch.allclose(a, b, atol=1e-9, rtol=1e-9)


# ------------------------------------------------------------------------------ stochastic samplers

def test_ddim_eta1_is_ddpm():
    """With eta = 1, DDIM's noise is the DDPM posterior standard deviation sqrt(beta~) (Song et al.
    2021, arxiv 2010.02502, eq. 16) and its mean the DDPM posterior mean: fed the same noise, the two
    samplers walk the same path on any grid."""
    x = torch.randn(6, 1, 1, 4, dtype=torch.float64)
    for steps in (4, 50):
        out = {}
        for name, options in (("ddpm", {}), ("ddim", {"eta": 1.0})):
            gens = [torch.Generator().manual_seed(i) for i in range(6)]
            path = []
            out[name] = SAMPLERS[name](exact_denoiser(MU, S, AB), x, timestep_grid(T, steps), AB, generators=gens,
                                       callback=lambda d, path=path: path.append(d["x"]), **options)
            out[name + "_path"] = torch.stack(path)
        assert torch.allclose(out["ddim_path"], out["ddpm_path"], atol=1e-9), steps
        assert torch.allclose(out["ddim"], out["ddpm"], atol=1e-9), steps


def _sampler(key):
    options = STOCHASTIC[key][0]
    return SAMPLERS[key.split("_eta")[0]], options


@pytest.fixture
def exact_moments(monkeypatch):
    """Exact moments of a stochastic sampler's output on Gaussian data, without Monte Carlo.

    With the exact (affine) denoiser every sampler is affine in its start x_T and in each noise draw,
    so we run it on coefficient vectors: the last axis of x holds [z_T, 1, z_1, z_2, ...], the
    coefficients of the standard-normal start, of the constant, and of each draw, and the samplers'
    ``randn`` is replaced, for this call only, by the next unit vector. The output's mean is then
    the constant's coefficient and its variance the sum of the other coefficients squared, exactly.
    Returns ``moments(key, steps, mu, s, alpha_bar) -> (mean, var)``, each (pixels,).
    """
    state = {"next": 2}

    def fake_randn(generators, shape, device, dtype=torch.float32):
        e = torch.zeros(shape, dtype=dtype, device=device)
        e[..., state["next"]] = 1.0
        state["next"] += 1
        return e

    def moments(key, steps, mu, s, alpha_bar):
        fn, options = _sampler(key)
        mu, s = mu.reshape(1, 1, -1, 1), s.reshape(1, 1, -1, 1)  # pixels on axis 2, coefficients on 3
        size = steps + 2
        state["next"] = 2
        ab_start = _ab(alpha_bar, len(alpha_bar) - 1)
        x = torch.zeros(1, 1, mu.shape[2], size, dtype=torch.float64)  # (1, 1, pixels, coefficients)
        x[..., 0] = marginal_std(ab_start, s)[..., 0]  # x_T = a mu + std z_T, the exact marginal
        x[..., 1] = (ab_start**0.5 * mu)[..., 0]
        denoise = exact_denoiser(mu, s, alpha_bar)
        denoise.constant = torch.zeros(size, dtype=torch.float64)
        denoise.constant[1] = 1.0
        with monkeypatch.context() as patch:
            patch.setattr(samplers_module, "randn", fake_randn)
            out = fn(denoise, x, timestep_grid(len(alpha_bar), steps), alpha_bar, **options)[0, 0]  # (pixels, K)
        assert state["next"] <= size
        mean = out[:, 1]
        return mean, out.pow(2).sum(-1) - mean**2

    return moments


@pytest.mark.parametrize("key", list(STOCHASTIC))
def test_stochastic_sampler_marginal_converges_at_its_order(key, exact_moments):
    """The exact output distribution (Gaussian: its mean and variance) tends to the data's N(mu, s^2):
    the mean is exact at any step count, and the variance error shrinks at least at first order as
    the steps double (fitted over 128..1024 steps: DDPM and DDIM eta > 0 0.93-0.97,
    SDE-DPM-Solver++(2M) 1.69; at 1024 steps the error is 1.1%, 0.6% and 0.07%)."""
    mu, s = MU[..., 1:], S[..., 1:]  # the stiff pixel reaches the asymptotic rate only beyond 1000 steps
    steps = [128, 256, 512, 1024]
    errors = []
    for n in steps:
        mean, var = exact_moments(key, n, mu, s, AB)
        assert torch.allclose(mean, mu.flatten(), atol=1e-9), (n, mean)
        errors.append((var / s.flatten() ** 2 - 1).abs().max().item())
    order = STOCHASTIC[key][2]
    assert fitted_order(steps, errors) > order - 0.2, errors
    assert errors[-1] < 0.015, errors


@pytest.mark.parametrize("key", list(STOCHASTIC))
def test_stochastic_sampler_matches_the_data_on_the_default_schedule(key, exact_moments):
    """On the default cosine schedule (T = 1000) at the step counts people use (DDPM's full grid,
    200 for the SDE solver) the output variance is within 1% of the data's (measured at most 0.8%)."""
    mu = torch.tensor([0.3, -0.4], dtype=torch.float64)
    s = torch.tensor([0.5, 1.5], dtype=torch.float64)
    mean, var = exact_moments(key, STOCHASTIC[key][1], mu, s, get_schedule("cosine", 1000))
    assert torch.allclose(mean, mu, atol=1e-9), mean
    assert ((var / s**2 - 1).abs() < 0.01).all(), var / s**2


@pytest.mark.parametrize("key", list(STOCHASTIC))
def test_monte_carlo_agrees_with_the_exact_moments(key, exact_moments):
    """The real sampler, with real noise: 20,000 samples per pixel from the exact marginal at T-1,
    at 32 steps, have the mean and variance that the coefficient run predicts, within 5 standard
    errors; so the exact-moment tests above speak for the sampler as it runs."""
    mu, s = MU[..., 1:], S[..., 1:]
    n, steps = 20_000, 32
    want_mean, want_var = exact_moments(key, steps, mu, s, AB)
    fn, options = _sampler(key)
    ab_start = _ab(AB, T - 1)
    x = ab_start**0.5 * mu + marginal_std(ab_start, s) * torch.randn(n, 1, 1, mu.shape[-1], dtype=torch.float64)
    out = fn(exact_denoiser(mu, s, AB), x, timestep_grid(T, steps), AB, **options)
    mean, var = out.mean(0).flatten(), out.var(0).flatten()
    assert ((mean - want_mean).abs() < 5 * (want_var / n).sqrt()).all(), (mean, want_mean)
    assert ((var / want_var - 1).abs() < 5 * math.sqrt(2 / n)).all(), (var, want_var)
