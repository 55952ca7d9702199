"""The diffusion objective: noise levels, q_sample, the target, the weighting, condition dropout.

    objective = DiffusionObjective(denoiser, options, tables, device, autocast)
    per_sample, stats = objective(net, x0, info)    # stats: loss, pseudo_acc

It draws each image's timestep (uniform, or EDM's log-normal levels) and noise from this process's
generator, noises x0 (q_sample), looks up the batch's conditions in the per-image tables and drops
them at ``condition_dropout`` (classifier-free guidance), and returns the per-sample error against
the parametrisation's target, min-SNR weighted on request. With ``augment`` > 0 each clean image first
goes through the non-leaking augmentation (:mod:`.augment`; an object-mask condition moves with it) and
the network sees its label. With ``loss_weighting="uncertainty"``
EDM2's learned weighting (a small network of its own, saved as ``WEIGHTING_FILE``) scales the loss
that is back-propagated; the loss logged stays the plain mean, comparable with or without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..checkpoint import load_weights
from ..conditioning import dropout_mask
from ..conditioning.tables import batch_condition
from ..diffusion import (
    UncertaintyWeighting,
    diffusion_loss,
    lognormal_timesteps,
    q_sample,
    target,
    to_eps_x0,
    uncertainty_weighted,
)
from ..diffusion.process import log_sigma
from ..errors import UserError
from .augment import AUGMENT_DIM, LATENT_REFUSAL, AugmentPipe

WEIGHTING_FILE = "loss_weighting.safetensors"  # a checkpoint's learned loss weighting (--loss-weighting)


class DiffusionObjective:
    """The loss of a Denoiser on a batch of clean images (see the module docstring).

    Args:
        denoiser: the (unwrapped) Denoiser: its schedule and parametrisation.
        options: the TrainingConfig (t_sampling, lognormal_mean/std, min_snr_gamma, condition_dropout,
            loss_weighting).
        tables: per-image condition tables, may be empty.
        autocast: a context-manager factory around the network's forward (bf16 autocast on a cuda device).
        channels_last: feed the network NHWC inputs (CUDA tensor cores).
        draw: replaces :meth:`draw` (the multi-process tests draw as functions of the image index).
    """

    def __init__(self, denoiser, options, tables: dict, device, autocast: Callable, channels_last: bool = False,
                 draw: Callable | None = None):
        self.denoiser, self.opt, self.tables = denoiser, options, tables
        self.autocast, self.channels_last = autocast, channels_last
        self._draw = draw or self.draw
        self.weighting = None  # EDM2's learned loss weighting: trained beside the model, not part of it
        if options.loss_weighting == "uncertainty":
            self.weighting = UncertaintyWeighting().to(device)
            # ln sigma of each timestep; clamped, as alpha_bar may reach 0 at t = T - 1 (ln sigma = inf)
            self._log_sigma = log_sigma(denoiser.alpha_bar.double()).clamp(-20, 20).float().to(device)
        self.augment = AugmentPipe(options.augment) if getattr(options, "augment", 0) > 0 else None
        if self.augment is not None:
            check_augmentable(denoiser)

    def draw(self, x0: torch.Tensor, info: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The timesteps (b,) and the noise (like x0) of a batch, from this process's generator."""
        d = self.denoiser
        if self.opt.t_sampling == "lognormal":
            t = lognormal_timesteps(x0.shape[0], d.alpha_bar, self.opt.lognormal_mean, self.opt.lognormal_std,
                                    device=x0.device)
        else:
            t = torch.randint(0, d.num_timesteps, (x0.shape[0],), device=x0.device)
        return t, torch.randn_like(x0)

    def __call__(self, net, x0: torch.Tensor, info: dict) -> tuple[torch.Tensor, dict]:
        """(the per-sample loss to back-propagate, {"loss", "pseudo_acc"}) of one micro-batch (reference 003)."""
        d = self.denoiser
        b = x0.shape[0]
        t, noise = self._draw(x0, info)
        cond = batch_condition(self.tables, info["indices"])
        if cond:  # tables stay on the CPU; a batch's rows go where the model is
            cond = {k: v.to(x0.device) for k, v in cond.items()}
        drop = dropout_mask(b, self.opt.condition_dropout, device=x0.device) if cond else None
        extra = {}
        if self.augment is not None:  # before noising: the network learns the augmented image, told so
            x0, cond, extra["augment"] = self._augmented(x0, cond)
        x_t = q_sample(x0, t, noise, d.alpha_bar)
        if self.channels_last:
            x_t = x_t.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            out = net(x_t, t, cond, drop, **extra)
        per_sample = diffusion_loss(out, target(d.prediction, x0, noise, t, d.alpha_bar), t, d.alpha_bar,
                                    d.prediction, self.opt.min_snr_gamma)
        loss = per_sample.mean()  # what is logged and plotted: comparable with or without the weighting
        if self.weighting is not None:
            per_sample = uncertainty_weighted(per_sample, self.weighting(self._log_sigma[t]))
        with torch.no_grad():
            _, x0_hat = to_eps_x0(d.prediction, out.detach().float(), x_t, t, d.alpha_bar)
            acc = 1 - (x0_hat.clamp(-1, 1) - x0).pow(2).mean()
        return per_sample, {"loss": loss.detach(), "pseudo_acc": acc}

    def _augmented(self, x0, cond):
        """(x0, cond, labels) of the augmented batch: an object-mask condition is warped with its image."""
        masks = [cond["mask"]] if cond and "mask" in cond else []
        x0, labels, moved = self.augment(x0, masks)
        if masks:
            cond = dict(cond, mask=moved[0])
        return x0, cond, labels

    def parameters(self) -> list:
        return list(self.weighting.parameters()) if self.weighting is not None else []

    def after_step(self, loop) -> dict:
        return {}

    def checkpoint(self) -> tuple[dict, dict]:
        return ({WEIGHTING_FILE: self.weighting} if self.weighting is not None else {}), {}

    def load(self, ckpt: Path, state: dict, note: Callable[[str], None]) -> bool:
        """The learned loss weighting's weights from ``ckpt``; False (the optimizer starts afresh) when the
        run switches --loss-weighting on or off."""
        has_weighting = (ckpt / WEIGHTING_FILE).is_file()
        if self.weighting is not None and has_weighting:
            load_weights(self.weighting, ckpt / WEIGHTING_FILE)
        if has_weighting != (self.weighting is not None):
            note(f"{ckpt.name} was trained with{'' if has_weighting else 'out'} --loss-weighting "
                 "uncertainty and this run is not: the optimizer starts afresh")
            return False
        return True


def check_augmentable(denoiser) -> None:
    """Refuse --augment for a model whose network takes no augmentation label, or a latent model."""
    if getattr(denoiser, "latent", None) is not None:
        raise UserError(LATENT_REFUSAL)
    config = getattr(denoiser.net, "config", None)
    if getattr(config, "augment_dim", 0) != AUGMENT_DIM:
        raise UserError(f"--augment needs a U-Net built with augment_dim = {AUGMENT_DIM} (fromnoise train sets it); "
                        "this network has none: use a unet preset, or leave --augment at 0")
