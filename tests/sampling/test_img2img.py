"""Image-to-image: SDEdit grids, RePaint inpainting, DDIM inversion, interpolation, and bad input."""

import math

import pytest
import torch

from fromnoise.errors import UserError
from fromnoise.sampling import SAMPLERS, generate, timestep_grid
from fromnoise.sampling.img2img import Img2ImgWarning
from fromnoise.sampling.img2img_walks import ddim_invert, feather, inpaint, repaint_schedule, sdedit_grid
from fromnoise.sampling.interpolation import interpolate, lerp_condition, slerp
from fromnoise.sampling.samplers import randn, sample_ddim
from tests.sampling.test_samplers import AB, denoiser, gaussian_oracle, oracle  # noqa: F401 (denoiser is a fixture)


def _gens(n, base=0):
    return [torch.Generator().manual_seed(base + i) for i in range(n)]


def _square_mask(size=8, lo=2, hi=6):
    m = torch.zeros(size, size)
    m[lo:hi, lo:hi] = 1
    return m


# ------------------------------------------------------------------------------ grids
def test_sdedit_grid_starts_at_strength_times_T():
    assert sdedit_grid(1000, 20, 1.0) == timestep_grid(1000, 20)
    for strength in (0.05, 0.3, 0.6, 0.95):
        ts = sdedit_grid(1000, 20, strength)
        assert ts[0] == round(strength * 1000) - 1 and ts[-1] == -1
        assert len(ts) - 1 == math.ceil(20 * strength)
        assert all(a > b for a, b in zip(ts[:-1], ts[1:]))


@pytest.mark.parametrize("steps, jump, resample", [(10, 3, 3), (20, 5, 4), (12, 1, 2), (6, 10, 5)])
def test_repaint_schedule_walks_the_grid_with_jumps(steps, jump, resample):
    grid = timestep_grid(1000, steps)
    sched = repaint_schedule(grid, jump, resample)
    pos = {t: i for i, t in enumerate(grid)}
    assert sched[0] == grid[0] and sched[-1] == -1
    moves = [pos[b] - pos[a] for a, b in zip(sched[:-1], sched[1:])]
    assert set(moves) <= {1, -1}  # one grid point down or up at a time
    jumps = len(range(0, steps - jump, jump))  # RePaint's jump points
    assert moves.count(1) == steps + jumps * (resample - 1) * jump
    assert moves.count(-1) == jumps * (resample - 1) * jump
    assert repaint_schedule(grid, jump, 1) == grid


# ---------------------------------------------------------------------------- inpainting
@pytest.mark.parametrize("name", list(SAMPLERS))
def test_inpainting_keeps_the_known_region_exactly(name):
    """The oracle knows another image b: the hole comes back as b, the kept pixels as the input, exactly."""
    known = torch.rand(2, 1, 8, 8) * 2 - 1
    b = torch.rand(2, 1, 8, 8) * 2 - 1
    mask = _square_mask()[None, None].expand(2, 1, 8, 8)
    weight = feather(mask, 1)
    gens = _gens(2)
    x = randn(gens, known.shape, "cpu")
    sched = repaint_schedule(timestep_grid(1000, 10), 2, 3)
    out = inpaint(SAMPLERS[name], oracle(b), x, sched, AB, known, weight, generators=gens)
    keep = mask == 0
    assert torch.equal(out[keep], known[keep])
    deep = weight == 1
    assert torch.allclose(out[deep], b[deep], atol=1e-4)


def test_known_region_is_noised_to_the_next_timestep():
    """At every network call of the walk the kept pixels are q(x_t | known) at that call's t: fresh noise of
    variance 1 - ab_t around sqrt(ab_t) known (a paste at the wrong timestep gives another variance)."""
    known = torch.rand(1, 1, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :, 32:] = 1
    seen = []

    def recorder(x, t):
        seen.append((t, x.clone()))
        return oracle(torch.zeros_like(known))(x, t)

    gens = _gens(1)
    sched = repaint_schedule(timestep_grid(1000, 10), 3, 2)
    inpaint(SAMPLERS["ddim"], recorder, randn(gens, known.shape, "cpu"), sched, AB, known, mask, generators=gens)
    for t, x in seen[1:]:  # the first call sees the starting noise, before any paste
        ab = AB[t].item()
        z = (x[..., :32] - ab**0.5 * known[..., :32]) / (1 - ab) ** 0.5
        assert abs(z.std().item() - 1) < 0.08 and abs(z.mean().item()) < 0.08, t


def test_generate_inpaints_through_the_denoiser(denoiser):  # noqa: F811
    init = torch.rand(1, 8, 8)
    init[0, 0, 0] = 1e-8  # a kept value that the [0, 1] -> [-1, 1] -> [0, 1] round trip in float32 loses
    mask = _square_mask(8, 1, 7)
    out = generate(denoiser, 4, sampler="dpmpp_2m_sde", steps=6, seed=3, init=init, mask=mask, resample=2,
                   jump_length=2, feather=1, batch_size=4)
    assert out.shape == (4, 1, 8, 8)
    keep = mask == 0
    assert torch.equal(out[:, 0][:, keep], init[0][keep].expand(4, -1))  # bit for bit, with a feathered seam
    deep = _square_mask(8, 2, 6) == 1  # beyond the 1-pixel feather
    assert (out[:, 0][:, deep] - init[0][deep]).abs().mean() > 0.1  # the hole was regenerated
    small = generate(denoiser, 4, sampler="dpmpp_2m_sde", steps=6, seed=3, init=init, mask=mask, resample=2,
                     jump_length=2, feather=1, batch_size=3)
    assert torch.allclose(out, small, atol=1e-5)  # an image does not depend on the batch


def test_feather_is_zero_on_kept_pixels_and_rises_inside():
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 1:8, 1:8] = 1
    w = feather(mask, 2)
    assert torch.equal(w[mask == 0], torch.zeros_like(w[mask == 0]))
    assert w[0, 0, 1, 4] == pytest.approx(1 / 3) and w[0, 0, 2, 4] == pytest.approx(2 / 3) and w[0, 0, 4, 4] == 1
    assert torch.equal(feather(mask, 0), mask)


# -------------------------------------------------------------------------- SDEdit variations
def test_sdedit_starts_from_the_input_noised_to_strength():
    torch.manual_seed(0)
    init = torch.rand(1, 1, 64, 64)
    seen = []

    class Rec(torch.nn.Module):
        image_shape, num_timesteps, conditional, alpha_bar = (1, 64, 64), 1000, False, AB

        def parameters(self):
            return iter([torch.zeros(1)])

        def predict(self, x, t, cond, guidance):
            seen.append((int(t[0]), x.clone()))
            return torch.zeros_like(x), x

    generate(Rec(), 1, sampler="ddim", steps=20, init=init, strength=0.6)
    t, x = seen[0]
    assert t == 599
    ab = AB[t].item()
    z = (x - ab**0.5 * (init * 2 - 1)) / (1 - ab) ** 0.5
    assert abs(z.std().item() - 1) < 0.05 and abs(z.mean().item()) < 0.05
    assert len(seen) == 12


def test_small_strength_returns_almost_the_input(denoiser):  # noqa: F811
    """strength must be in (0, 1]; its limit towards 0 is the input itself."""
    init = torch.rand(2, 1, 8, 8)
    diffs = []
    for strength in (1e-3, 0.05, 0.3, 0.9):
        out = generate(denoiser, 2, sampler="ddim", steps=20, init=init, strength=strength)
        diffs.append((out - init).abs().mean().item())
    assert diffs[0] < 0.01
    assert diffs == sorted(diffs) and diffs[-1] > 0.2
    with pytest.raises(UserError, match=r"\(0, 1\]"):
        generate(denoiser, 2, init=init, strength=0)


# ----------------------------------------------------------------------------- inversion
def test_ddim_inversion_then_sampling_reproduces_the_input():
    """On Gaussian data the exact posterior mean makes the DDIM ODE non-trivial; inversion + DDIM comes back.
    The plain first-order inversion is off by O(1/steps); the fixed-point refinement solves each step."""
    x0 = torch.randn(256, 1, 1, 1, dtype=torch.float64) * 0.5 + 0.3
    den = gaussian_oracle(0.3, 0.5)

    def error(steps, refine):
        grid = timestep_grid(1000, steps)
        return (sample_ddim(den, ddim_invert(den, x0, grid, AB, refine=refine), grid, AB) - x0).abs().max().item()

    assert error(200, 0) < 0.03 and error(200, 0) < error(20, 0) / 4  # first order: converges with the steps
    assert error(20, 2) < 0.01 < error(20, 0)
    noise = torch.randn_like(x0)
    grid = timestep_grid(1000, 20)
    assert (sample_ddim(den, noise, grid, AB) - x0).abs().max() > 0.3  # a fresh start does not come back


class _GaussNet(torch.nn.Module):
    """A network that outputs the exact eps of Gaussian N(mu, s^2) pixels: what training would converge to."""

    def __init__(self, mu=0.3, s=0.5):
        super().__init__()
        self.mu, self.s = mu, s
        self.unused = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, emb=None, ctx=None):
        ab = AB[t].float().view(-1, 1, 1, 1)
        a = ab.sqrt()
        x0 = self.mu + a * self.s**2 / (ab * self.s**2 + 1 - ab) * (x - a * self.mu)
        return (x - a * x0) / (1 - ab).sqrt()


def test_generate_invert_reproduces_the_input():
    from fromnoise.diffusion import Denoiser

    gauss = Denoiser(_GaussNet(), AB, "eps", image_shape=(1, 8, 8))
    init = ((torch.randn(3, 1, 8, 8) * 0.5 + 0.3).clamp(-1, 1) + 1) / 2
    back = generate(gauss, 3, sampler="ddim", steps=20, init=init, invert=True, seed=7)
    assert (back - init).abs().max() < 0.01
    plain = generate(gauss, 3, sampler="ddim", steps=20, init=init, strength=1.0, seed=7)
    assert (plain - init).abs().mean() > 0.1
    with pytest.raises(UserError, match="deterministic"):
        generate(gauss, 3, sampler="ddpm", init=init, invert=True)


# ---------------------------------------------------------------------------- interpolation
def test_slerp_ends_and_norm():
    a, b = torch.randn(3, 1, 16, 16), torch.randn(3, 1, 16, 16)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    mid = slerp(a, b, 0.5).flatten(1).norm(dim=1)
    ends = (a.flatten(1).norm(dim=1) + b.flatten(1).norm(dim=1)) / 2
    assert torch.allclose(mid, ends, rtol=0.1)
    assert (torch.lerp(a, b, 0.5).flatten(1).norm(dim=1) < 0.85 * ends).all()  # the straight line shrinks it


def test_interpolate_runs_from_one_seed_to_the_other(denoiser):  # noqa: F811
    frames = interpolate(denoiser, 5, seeds=(3, 9), sampler="ddim", steps=5)
    assert frames.shape == (5, 1, 8, 8)
    assert torch.allclose(frames[0], generate(denoiser, 1, sampler="ddim", steps=5, seed=3)[0], atol=1e-5)
    assert torch.allclose(frames[-1], generate(denoiser, 1, sampler="ddim", steps=5, seed=9)[0], atol=1e-5)


def test_lerp_condition():
    cond = {"features": torch.tensor([[0.0, 1.0], [1.0, 0.0]]), "text_mask": torch.tensor([[1, 0], [1, 1]]).bool()}
    out = lerp_condition(cond, 3)
    assert torch.allclose(out["features"], torch.tensor([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]))
    assert out["text_mask"].all(dim=0).tolist() == [True, True]
    with pytest.raises(UserError, match="class labels"):
        lerp_condition({"labels": torch.tensor([0, 1])}, 3)


# ------------------------------------------------------------------------------- bad input
def test_init_of_another_size_is_resized_and_said(denoiser):  # noqa: F811
    with pytest.warns(Img2ImgWarning, match="12x10.*centre-cropped"):
        out = generate(denoiser, 1, sampler="ddim", steps=3, init=torch.rand(1, 10, 12), strength=0.5)
    assert out.shape == (1, 1, 8, 8)
    with pytest.warns(Img2ImgWarning):  # the mask follows the image through the same resize
        out = generate(denoiser, 1, steps=3, init=torch.rand(1, 16, 16), mask=_square_mask(16, 4, 12))
    assert out.shape == (1, 1, 8, 8)


def test_mask_not_binary_is_thresholded_and_said(denoiser):  # noqa: F811
    mask = _square_mask() * 0.7
    init = torch.rand(1, 8, 8)
    with pytest.warns(Img2ImgWarning, match="16 pixels.*thresholded"):
        out = generate(denoiser, 1, steps=3, init=init, mask=mask)
    keep = mask == 0
    assert torch.equal(out[0, 0][keep], init[0][keep])


@pytest.mark.parametrize("kwargs, message", [
    ({"mask": _square_mask()}, "needs an input image"),
    ({"strength": 0.5}, "needs an input image"),
    ({"init": torch.rand(1, 8, 8), "mask": _square_mask(6)}, "mask is 6x6 but the init image is 8x8"),
    ({"init": torch.rand(1, 8, 8), "mask": torch.zeros(8, 8)}, "all black"),
    ({"init": torch.rand(3, 8, 8)}, "3 channels"),
    ({"init": torch.rand(1, 8, 8) * 2 - 1}, r"in \[0, 1\]"),
    ({"init": torch.rand(1, 8, 8), "strength": 1.5}, r"\(0, 1\]"),
    ({"init": torch.rand(3, 1, 8, 8)}, "3 images for 2"),
    ({"init": torch.rand(1, 8, 8), "resample": 0}, "at least 1"),
])
def test_bad_input_is_a_user_error(denoiser, kwargs, message):  # noqa: F811
    with pytest.raises(UserError, match=message):
        generate(denoiser, 2, steps=2, **kwargs)


def test_an_rgba_input_is_composited_on_white_as_the_models_see_it():
    """prepare_init: colour * alpha + (1 - alpha), alpha kept; other channel counts untouched."""
    from fromnoise.sampling.img2img import prepare_init

    x = torch.tensor([0.2, 0.6, 1.0, 0.25]).reshape(1, 4, 1, 1).expand(1, 4, 2, 2)
    out = prepare_init(x, (4, 2, 2), 1)
    expected = torch.tensor([0.2 * 0.25 + 0.75, 0.6 * 0.25 + 0.75, 1.0, 0.25]).reshape(1, 4, 1, 1)
    assert torch.allclose(out, expected.expand(1, 4, 2, 2), atol=1e-6)
    rgb = torch.rand(1, 3, 2, 2)
    assert torch.equal(prepare_init(rgb, (3, 2, 2), 1), rgb)
