"""``generate(clip_x0=True)``: the predicted x0 is clamped to [-1, 1] at every step and eps is
re-derived from the clamped x0, so the sampler's step uses a consistent pair (eps, x0)."""

import pytest
import torch

from fromnoise.diffusion import Denoiser, get_schedule
from fromnoise.sampling import generate, timestep_grid

AB = get_schedule("cosine", 1000)


class _Linear(torch.nn.Module):
    """Outputs ``scale * x``: with x0 prediction, x0 = 3 x_t overshoots [-1, 1] wherever |x_t| > 1/3;
    with eps prediction, eps = -x_t gives x0 = x_t (1 + sqrt(1 - ab)) / sqrt(ab), far outside at large t."""

    def __init__(self, scale):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(float(scale)), requires_grad=False)

    def forward(self, x, t, emb=None, ctx=None):
        return self.scale * x


def unclipped_x0(prediction, x, t):
    ab = AB[t].item()
    return 3 * x if prediction == "x0" else x * (1 + (1 - ab) ** 0.5) / ab**0.5


def _run(prediction, clip_x0, steps=8):
    denoiser = Denoiser(_Linear(3.0 if prediction == "x0" else -1.0), AB, prediction, image_shape=(1, 4, 4))
    noise = torch.randn(3, 1, 4, 4)
    seen = []
    images = generate(denoiser, 3, sampler="ddim", steps=steps, noise=noise, clip_x0=clip_x0, callback=seen.append)
    return noise, seen, images, timestep_grid(1000, steps)


@pytest.mark.parametrize("prediction", ["x0", "eps"])
def test_clip_x0_clamps_and_rederives_eps(prediction):
    noise, seen, images, ts = _run(prediction, clip_x0=True)
    x_t = noise
    clipped_somewhere = False
    for d, t, s in zip(seen, ts[:-1], ts[1:]):
        want = unclipped_x0(prediction, x_t, t)
        clipped_somewhere |= bool((want.abs() > 1).any())
        assert torch.allclose(d["x0"], want.clamp(-1, 1), atol=1e-4)
        # DDIM (eta = 0) with eps re-derived from the clamped x0: x_s = a_s x0 + s_s (x_t - a_t x0) / s_t
        a_t, a_s = AB[t].item() ** 0.5, (AB[s].item() if s >= 0 else 1.0) ** 0.5
        eps = (x_t - a_t * d["x0"]) / (1 - a_t**2) ** 0.5
        assert torch.allclose(d["x"], a_s * d["x0"] + (1 - a_s**2) ** 0.5 * eps, atol=1e-4)
        x_t = d["x"]
    assert clipped_somewhere  # the test means something
    assert torch.allclose(images, (seen[-1]["x0"] + 1) / 2, atol=1e-6)


def test_without_clip_x0_the_prediction_is_left_alone():
    noise, seen, images, ts = _run("x0", clip_x0=False)
    x_t = noise
    for d, t in zip(seen, ts[:-1]):
        assert torch.allclose(d["x0"], unclipped_x0("x0", x_t, t), atol=1e-4)
        x_t = d["x"]
    assert max(d["x0"].abs().max().item() for d in seen) > 1.5
    assert images.min() >= 0 and images.max() <= 1  # the returned images are clamped either way
