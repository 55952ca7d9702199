"""Non-leaking geometric augmentation (Karras et al. 2022, arxiv 2206.00364, appendix C.4; NVlabs/edm's
``AugmentPipe``), for training on a few hundred images.

    pipe = AugmentPipe(p=0.15)
    x0, labels, extra = pipe(x0, [mask])   # labels (B, AUGMENT_DIM); the mask moves with the image

Each of five geometric augmentations is applied to an image with probability ``p``, independently:
x-flip, integer translation, isotropic scaling, rotation and anisotropic scaling. Their parameters
form the image's augmentation label, which the network takes as extra conditioning during training
(``UNetConfig.augment_dim``: a linear map summed into the time embedding). At sampling the label is
zero, "not augmented", so the model draws un-augmented images: the augmentations do not leak into
the samples, unlike plain flips or crops, which the model learns to reproduce as data.

The label of one image (:data:`AUGMENT_DIM` = 8 numbers, all 0 when nothing was applied):

    0     x-flip: 1 when mirrored left-right
    1, 2  integer translation (tx, ty) as a share of the image side (pixels / side)
    3     log2 of the isotropic scale factor
    4, 5  rotation by theta: (sin theta, cos theta - 1)
    6, 7  anisotropic scaling by 2^a along the axis at angle phi (2^-a across it): (a cos 2phi, a sin 2phi)

The warp is one affine map per image, ``output = T F S R A input`` about the image centre, rebuilt
from the label alone (:func:`label_matrix`), so a label always says exactly what was done. It is
sampled with torch's ``affine_grid`` + ``grid_sample`` (bilinear, mirrored padding like EDM's
reflect padding); torchvision's ``v2.functional.affine`` takes one set of parameters per call and
fills the border with a constant, and kornia is not a dependency. Flips and integer translations
are exact (they map pixel centres onto pixel centres); rows with no augmentation are returned
untouched. Every channel moves together (an RGBA image's alpha with its colour), and so do the
``extra`` images given beside the batch (the object-mask condition). No colour augmentation: see
the tutorial (colour is what a feature-conditioned model is conditioned on).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

AUGMENT_DIM = 8          # numbers in one augmentation label (the network's augment_dim)
TRANSLATE_MAX = 0.125    # integer translation up to this share of the side (EDM's translate_int_max)
SCALE_STD = 0.2          # log2 isotropic scale ~ N(0, 0.2^2) (EDM's scale_std)
ANISO_STD = 0.2          # log2 anisotropic stretch ~ N(0, 0.2^2) (EDM's aniso_std)
# why --augment is refused for a latent model (said by `fromnoise train` before it loads the images, and by
# the objective)
LATENT_REFUSAL = ("--augment works on pixel-space models only: a latent model's images are encoded once, and the "
                  "latent of a warped image is not the warped latent; leave --augment at 0 with --autoencoder")
NAMES = ("xflip", "translate_x", "translate_y", "log2_scale", "rotate_sin", "rotate_cos_minus_1",
         "aniso_cos", "aniso_sin")


def draw_labels(batch: int, p: float, size: int, device=None, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """(batch, AUGMENT_DIM) labels: each augmentation on with probability ``p``; ``size`` is the image side
    (integer translations are whole pixels)."""
    def rand(*shape):
        return torch.rand(*shape, generator=generator, device=device)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, device=device)

    on = rand(batch, 5) < p  # which augmentations each image gets
    labels = torch.zeros(batch, AUGMENT_DIM, device=device)
    labels[:, 0] = on[:, 0].float()
    shift = ((rand(batch, 2) * 2 - 1) * TRANSLATE_MAX * size).round() / size  # whole pixels
    labels[:, 1:3] = shift * on[:, 1:2]
    labels[:, 3] = randn(batch) * SCALE_STD * on[:, 2]
    theta = (rand(batch) * 2 - 1) * math.pi
    labels[:, 4] = torch.where(on[:, 3], theta.sin(), 0.0)
    labels[:, 5] = torch.where(on[:, 3], theta.cos() - 1, 0.0)
    a, phi = randn(batch) * ANISO_STD * on[:, 4], rand(batch) * math.pi
    labels[:, 6], labels[:, 7] = a * (2 * phi).cos(), a * (2 * phi).sin()
    return labels


def label_matrix(labels: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) forward maps ``output = T F S R A input`` in normalised coordinates ([-1, 1], x right,
    y down) of the labels (B, AUGMENT_DIM); the identity for a zero label."""
    b = labels.shape[0]
    lab = labels.double()

    def eye():
        return torch.eye(3, dtype=torch.float64, device=labels.device).repeat(b, 1, 1)

    T, Fl, S, R, A = eye(), eye(), eye(), eye(), eye()
    T[:, 0, 2], T[:, 1, 2] = 2 * lab[:, 1], 2 * lab[:, 2]  # a share of the side is twice that in [-1, 1]
    Fl[:, 0, 0] = 1 - 2 * lab[:, 0]
    S[:, 0, 0] = S[:, 1, 1] = torch.exp2(lab[:, 3])
    sin, cos = lab[:, 4], lab[:, 5] + 1
    R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1] = cos, -sin, sin, cos
    # anisotropic: a = |(c, s)|, the axis at angle phi = atan2(s, c) / 2; rotate it onto x, stretch, rotate back
    c, s = lab[:, 6], lab[:, 7]
    a = torch.sqrt(c * c + s * s)
    cos2, sin2 = torch.where(a > 0, c / a.clamp_min(1e-30), 1.0), torch.where(a > 0, s / a.clamp_min(1e-30), 0.0)
    u, v = torch.exp2(a), torch.exp2(-a)  # along / across the axis
    # R(phi) diag(u, v) R(-phi), written with cos 2phi and sin 2phi
    A[:, 0, 0] = (u + v) / 2 + (u - v) / 2 * cos2
    A[:, 1, 1] = (u + v) / 2 - (u - v) / 2 * cos2
    A[:, 0, 1] = A[:, 1, 0] = (u - v) / 2 * sin2
    return T @ Fl @ S @ R @ A


def warp(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """``images`` (B, C, H, W) moved by the forward maps (B, 3, 3): bilinear, mirrored at the border."""
    theta = torch.linalg.inv(matrices)[:, :2, :].to(images.dtype)  # grid_sample looks up output -> input
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class AugmentPipe:
    """Draws labels and warps a batch (see the module docstring).

    Args:
        p: probability of each augmentation per image, in [0, 1]; 0 returns every batch untouched.
    """

    def __init__(self, p: float):
        if not 0 <= p <= 1:
            raise ValueError(f"the augmentation probability must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, images: torch.Tensor, extra: list[torch.Tensor] | tuple = (),
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, list]:
        """(augmented images, labels (B, AUGMENT_DIM), the ``extra`` images (B, c, H, W) moved alike).

        Binary extras (a {0, 1} mask) stay binary (thresholded at 1/2 after the warp)."""
        b, _, _, w = images.shape
        labels = draw_labels(b, self.p, w, device=images.device, generator=generator)
        out, moved = apply_labels(images, labels, extra)
        return out, labels, moved


def apply_labels(images: torch.Tensor, labels: torch.Tensor, extra: list[torch.Tensor] | tuple = ()
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``images`` and each of ``extra`` warped by the transforms the ``labels`` describe; rows whose label
    is zero are not touched."""
    rows = labels.abs().sum(1) > 0
    if not rows.any():
        return images, list(extra)
    idx = rows.nonzero().squeeze(1)
    mats = label_matrix(labels[idx])
    parts = [images] + [e.to(images.dtype) for e in extra]
    stacked = torch.cat([t[idx] for t in parts], dim=1)  # every channel through one warp
    moved = warp(stacked, mats)
    outs, start = [], 0
    for t in parts:
        c = t.shape[1]
        piece = moved[:, start:start + c]
        start += c
        if t is not images and _binary(t):
            piece = (piece > 0.5).to(piece.dtype)
        full = t.clone()
        full[idx] = piece
        outs.append(full)
    extra_out = [o.to(e.dtype) for o, e in zip(outs[1:], extra)]
    return outs[0], extra_out


def _binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())
