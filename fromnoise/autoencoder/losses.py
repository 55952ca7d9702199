"""The autoencoder's losses, all from scratch (no pretrained network, so no LPIPS).

    rec = L1 or L2(x, x_hat) + ssim_weight * (1 - SSIM(x, x_hat))      per pixel, averaged
    loss = rec + kl_weight * KL(q(z|x) || N(0, I)) / (C * H * W)        (+ the adversarial term)

Dividing the KL (a sum over the latent) by the number of pixel values makes ``kl_weight`` mean
what it means in LDM's ``LPIPSWithDiscriminator`` (``ldm/modules/losses/contperceptual.py``),
whose reconstruction term is a sum over pixels: there and here kl_weight = 1e-6.

After ``disc_start`` steps a PatchGAN discriminator (Isola et al. 2017, arxiv 1611.07004; the
``NLayerDiscriminator`` of taming-transformers) adds ``-disc_weight * lambda * D(x_hat).mean()``
to the autoencoder's loss and trains on the hinge loss; lambda is the adaptive weight of Esser et al.
2021 (arxiv 2012.09841, eq. 7): the ratio of the reconstruction's and the adversarial term's
gradient norms at the decoder's last layer, so neither term drowns the other.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------------------- SSIM
def _gaussian_window(size: int, sigma: float, dtype, device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03, reduction: str = "mean") -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, differentiable.

    Images (B, C, H, W); local means, variances and covariance from an 11x11 Gaussian window
    (sigma 1.5), computed on the valid region (no padding) and averaged over channels and
    positions. This is ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=data_range)`` (a test checks it).
    ``reduction="none"`` gives one value per image (B,).
    """
    c = x.shape[1]
    g = _gaussian_window(window, sigma, x.dtype, x.device)
    gh = g.view(1, 1, 1, window).repeat(c, 1, 1, 1)
    gv = g.view(1, 1, window, 1).repeat(c, 1, 1, 1)

    def blur(t):  # separable Gaussian filter, one per channel
        return F.conv2d(F.conv2d(t, gh, groups=c), gv, groups=c)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    per_image = s.mean(dim=(1, 2, 3))
    return per_image if reduction == "none" else per_image.mean()


PIXEL_LOSSES = ("l1", "l2")


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor, ssim_weight: float, pixel: str = "l1") -> torch.Tensor:
    """Per-image pixel loss + ssim_weight * (1 - SSIM), (B,); images in [-1, 1] (SSIM is taken on [0, 1]).

    ``pixel="l1"``: the mean absolute error (LDM's); ``"l2"``: the mean squared error. L1's optimum under
    uncertainty is the median: on data where most images are grey (half of Debian's clip art), an
    autoencoder that has not yet encoded an object's colour is pulled to exactly grey, and it stays
    there (measured: chroma of the reconstructions falls to 18% of the originals'); the squared error's
    pull grows with the colour error, and colour comes through (bench/results/autoencoder*.json).
    """
    d = x - x_hat
    rec = (d.abs() if pixel == "l1" else d.pow(2)).mean(dim=(1, 2, 3))
    if ssim_weight == 0 or min(x.shape[-2:]) < 11:  # SSIM's 11x11 window needs at least 11 pixels
        return rec
    s = ssim((x + 1) / 2, (x_hat + 1) / 2, reduction="none")
    return rec + ssim_weight * (1 - s)


# ---------------------------------------------------------------------------- discriminator
class PatchDiscriminator(nn.Module):
    """PatchGAN: conv 4x4 stride 2 + LeakyReLU(0.2), ``layers`` more with BatchNorm, one logit per patch.

    taming-transformers' ``NLayerDiscriminator`` (from pix2pix), with LDM's weight initialisation
    (conv N(0, 0.02), BatchNorm weight N(1, 0.02)).
    """

    def __init__(self, channels: int, width: int = 64, layers: int = 3):
        super().__init__()
        if layers < 1:
            raise ValueError(f"a PatchGAN needs at least one layer, got {layers}")
        seq: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        cin = width
        for n in range(1, layers + 1):
            cout = width * min(2 ** n, 8)
            stride = 2 if n < layers else 1
            seq += [nn.Conv2d(cin, cout, 4, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
            cin = cout
        seq.append(nn.Conv2d(cin, 1, 4, 1, 1))
        self.net = nn.Sequential(*seq)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def patch_layers(image_size: int, most: int = 3) -> int:
    """PatchGAN layers that fit an image side: each halves it, and the two last 4x4 convs take 1 pixel
    each, so ``image_size / 2**layers >= 3`` (3 layers, pix2pix's 70x70 patches, from 24 pixels up)."""
    return max(1, min(most, math.floor(math.log2(image_size / 3))))


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss: 0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(x_hat)))."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def adaptive_weight(rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor,
                    max_weight: float = 1e4) -> torch.Tensor:
    """lambda = ||grad_L rec|| / (||grad_L g|| + 1e-4) at the last layer L, clamped to [0, max_weight] and
    detached (Esser et al. 2021, eq. 7; taming's ``calculate_adaptive_weight``)."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0.0, max_weight).detach()
