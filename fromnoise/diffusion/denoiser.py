"""The one denoiser contract every sampler talks to.

A :class:`Denoiser` wraps a network with its noise schedule, its prediction
type (eps, x0 or v) and its conditioning encoders. For any (x_t, t, condition)
it returns both ``eps`` and ``x0``. Classifier-free guidance lives here, as one
batched forward over the conditional and the unconditional halves.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from .process import Prediction, to_eps_x0


class Denoiser(nn.Module):
    """Network + schedule + parametrisation + conditioning.

    Args:
        net: maps (x, t, cond_emb, context) to a raw prediction (see ``fromnoise.models``).
        alpha_bar: (T,) float64 schedule (``fromnoise.diffusion.schedules``).
        prediction: what the network outputs: "eps", "x0" or "v".
        encoders: conditioning encoders by kind (``fromnoise.conditioning``).
        image_shape: (C, H, W) of the generated images.
    """

    def __init__(self, net: nn.Module, alpha_bar: torch.Tensor, prediction: Prediction,
                 encoders: dict[str, nn.Module] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        self.net = net
        self.register_buffer("alpha_bar", alpha_bar.to(torch.float64), persistent=False)
        self.prediction = prediction
        self.encoders = nn.ModuleDict(encoders or {})
        self.image_shape = tuple(image_shape)

    @property
    def num_timesteps(self) -> int:
        return self.alpha_bar.shape[0]

    @property
    def conditional(self) -> bool:
        return len(self.encoders) > 0

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict | None = None,
                drop: torch.Tensor | None = None, augment: torch.Tensor | None = None) -> torch.Tensor:
        """Raw network output for x_t (B, C, H, W) at integer timesteps t (B,).

        ``drop`` (B,) bool replaces those rows' condition by the null condition. ``augment`` (B, augment_dim):
        training's augmentation labels (``fromnoise.training.augment``); None, as at sampling, is "not augmented".
        """
        emb, ctx = None, []
        if self.encoders:
            b = x_t.shape[0]
            if not cond:  # no condition given: every encoder contributes its null condition
                cond = {}
                for enc in self.encoders.values():
                    cond.update(enc.null_condition(b, x_t.device))
                drop = torch.ones(b, dtype=torch.bool, device=x_t.device)
            if drop is None:
                drop = torch.zeros(b, dtype=torch.bool, device=x_t.device)
            extra = []
            for enc in self.encoders.values():
                e, c = enc.encode(cond, drop)
                if e is not None:
                    emb = e if emb is None else emb + e
                if c is not None:
                    ctx.append(c)
                img = enc.image_inputs(cond, drop, x_t)
                if img is not None:
                    extra.append(img)
            if extra:
                x_t = torch.cat([x_t, *extra], dim=1)
        context = torch.cat(ctx, dim=1) if ctx else None
        if augment is not None:
            return self.net(x_t, t, emb, context, augment)
        return self.net(x_t, t, emb, context)

    @torch.no_grad()
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict | None = None,
                guidance: float = 1.0, negative: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(eps, x0) for x_t at timesteps t; with guidance != 1, classifier-free guidance
        eps = eps_u + w (eps_c - eps_u) from one batched forward of both halves (Ho & Salimans 2022).

        ``negative``: a condition to guide away from instead of the null condition, eps = eps_n + w (eps_c - eps_n)
        (a "negative prompt"; for an edit, the input's own class or prompt); keys it lacks are taken from ``cond``."""
        if t.ndim == 0:
            t = t.expand(x_t.shape[0])
        if guidance == 1.0 or not self.encoders or cond is None:
            out = self(x_t, t, cond)
            return to_eps_x0(self.prediction, out.float(), x_t, t, self.alpha_bar)
        b = x_t.shape[0]
        if negative is not None and not set(negative) <= set(cond):
            raise UserError(f"the negative condition has {sorted(negative)}, the condition only {sorted(cond)}: "
                            "give a negative of a kind the condition has (a class for a class, a prompt for a prompt)")
        other = cond if negative is None else {**cond, **negative}
        both = {k: torch.cat([v, other[k]]) if torch.is_tensor(v) else v + other[k] for k, v in cond.items()}
        drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.full((b,), negative is None)]).to(x_t.device)
        out = self(torch.cat([x_t, x_t]), torch.cat([t, t]), both, drop).float()
        cond_out, uncond_out = out[:b], out[b:]
        # every parametrisation is affine in the network output at fixed x_t, so guiding the
        # raw output equals guiding eps (and x0): one conversion afterwards.
        guided = uncond_out + guidance * (cond_out - uncond_out)
        return to_eps_x0(self.prediction, guided, x_t, t, self.alpha_bar)
