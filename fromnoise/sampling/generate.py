"""``generate()``: the one entry point that the Python API, the CLI and the web page call."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..choices import nfe  # noqa: F401 (re-exported: fromnoise.sampling.nfe)
from ..errors import UserError
from ..img2img_request import EDIT_DEFAULTS
from .img2img import plan_edit
from .samplers import DEFAULT_SAMPLER, SAMPLERS, randn, timestep_grid


def _slice(cond: dict | None, lo: int, hi: int) -> dict | None:
    if cond is None:
        return None
    return {k: v[lo:hi] for k, v in cond.items()}


def _on(cond: dict | None, device) -> dict | None:
    return None if cond is None else {k: v.to(device) if torch.is_tensor(v) else v for k, v in cond.items()}


def network_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the network during sampling on ``device``: bf16 on a CUDA GPU that has it,
    fp16 on an older one, None (float32) on the CPU, where bf16 is many times slower. The sampler's own
    arithmetic (the updates of x, the schedule) stays float32 either way."""
    if torch.device(device).type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def check_guidance(denoiser, guidance: float, condition: dict | None, *, option: str = "guidance",
                   give: str = "pass condition=..., or guidance=1 (without one the model samples unconditionally)"
                   ) -> None:
    """The one check that a guidance scale other than 1 has something to act on, for every interface.

    Classifier-free guidance extrapolates from the null condition towards the condition, so it needs a
    conditional model trained with condition dropout (its training options, when the model has them) and a
    condition. ``option`` is how the caller names the scale ("--guidance" on the
    command line) and ``give`` what its user can do about a missing condition.
    """
    if guidance == 1.0:
        return
    if not denoiser.conditional:
        raise UserError(f"{option} {guidance:g} needs a conditional model; this checkpoint is unconditional "
                        f"(train with --condition class|text|features, or set {option} to 1)")
    if not condition:
        raise UserError(f"{option} {guidance:g} needs a condition to guide towards (a class, a prompt, features): "
                        f"{give}")
    if not guidance_trained(denoiser):
        raise UserError(f"{option} {guidance:g} needs a model trained with condition dropout (guidance extrapolates "
                        "from the null condition, which this model never saw: it was trained with "
                        f"--condition-dropout 0); set {option} to 1, or train with --condition-dropout 0.1")


def guidance_trained(denoiser) -> bool:
    """Whether classifier-free guidance has a null condition to extrapolate from: a conditional model whose training
    dropped its condition (``--condition-dropout`` above 0; a checkpoint without training options counts as one)."""
    training = (getattr(denoiser, "config", None) or {}).get("training") or {}
    return bool(denoiser.conditional) and training.get("condition_dropout") != 0


def suggested_guidance(denoiser) -> float:
    """The guidance scale the model's preset suggests for its conditional samples (``model.defaults.guidance`` of
    its config, measured per preset: ``youandme-latent`` 2); 1 when it suggests none."""
    config = getattr(denoiser, "config", None) or {}
    return float(((config.get("model") or {}).get("defaults") or {}).get("guidance", 1.0))


def resolve_guidance(denoiser, guidance: float | None, condition: dict | None, *, editing: bool = False) -> float:
    """The guidance scale of a request: ``guidance`` when given; otherwise the model's suggestion
    (:func:`suggested_guidance`) for a conditional model given a condition and not editing an image, else 1.
    The CLI, the page and :func:`generate` resolve an unset scale here, so all three default alike. An edit
    keeps 1: its guidance also sets how far it pushes from the input's own condition (tutorial 07)."""
    if guidance is not None:
        return float(guidance)
    if condition and not editing and guidance_trained(denoiser):
        return suggested_guidance(denoiser)
    return 1.0


def _check_condition(denoiser, condition, guidance, n):
    check_guidance(denoiser, guidance, condition)
    if condition is not None:
        for key, value in condition.items():
            if len(value) != n:
                raise UserError(f"the condition '{key}' has {len(value)} rows for {n} images")


@torch.no_grad()
def generate(denoiser, n: int = 16, *, sampler: str = DEFAULT_SAMPLER, steps: int = 20, spacing: str = "trailing",
             seed: int = 0, guidance: float | None = None, condition: dict | None = None, callback=None,
             batch_size: int = 64,
             clip_x0: bool = True, eta: float = 0.0, noise: torch.Tensor | None = None,
             device: str | torch.device | None = None, progress: bool = False, init=None, mask=None,
             strength: float | None = EDIT_DEFAULTS.strength, invert: bool = EDIT_DEFAULTS.invert,
             source: dict | None = None, negative: dict | None = None, jump_length: int = EDIT_DEFAULTS.jump_length,
             resample: int = EDIT_DEFAULTS.resample, feather: float = EDIT_DEFAULTS.feather) -> torch.Tensor:
    """Generate ``n`` images with a :class:`fromnoise.diffusion.Denoiser`.

    Args:
        denoiser: a trained Denoiser (``fromnoise.load(path)``).
        n: number of images.
        sampler: a name in ``fromnoise.sampling.SAMPLERS`` (ddpm, ddim, dpmpp_2m, dpmpp_2m_sde, euler, heun).
        steps: sampler steps (the timestep grid has ``steps`` points before the clean image).
        spacing: how the grid's points are spread, "trailing" (even in t), "karras" (Karras et al. 2022's
            rho = 7, more steps at low noise) or "logsnr" (even in log-SNR): ``fromnoise.sampling.timestep_grid``.
        seed: image i uses its own generator seeded ``seed + i``, so it does not depend on batch size.
        guidance: classifier-free guidance scale (1 = conditional, 0 = unconditional); None: the model's
            suggestion with a condition (``youandme-latent``: 2), 1 without one or for an edit
            (:func:`resolve_guidance`).
        condition: model inputs per image, e.g. ``{"labels": LongTensor(n)}`` (see the encoders).
        callback: called per step with {"i", "t", "x", "x0", "offset"} (offset: first image index of the batch);
            for a latent model x and x0 are decoded to pixels first (one decoding per step: slower).
        clip_x0: clamp the predicted x0 to [-1, 1] (and re-derive eps) at every step (pixel-space models only).
        eta: DDIM stochasticity (ddim only).
        noise: optional starting noise (n, C, H, W) instead of seeded noise (a latent model: its ``latent_shape``).
        init: image-to-image input, (C, H, W) or (1 | n, C, H, W) in [0, 1] (another size is resized and
            centre-cropped, with a warning); see ``fromnoise.sampling.img2img`` and tutorial 07. The defaults of
            the image-to-image keywords are ``fromnoise.img2img_request.EDIT_DEFAULTS``'s.
        mask: inpainting mask of the init image's size, (H, W) or (1 | n, 1, H, W), 1 = regenerate, 0 = keep
            (RePaint, arxiv 2201.09865); not-binary values are thresholded at 0.5, with a warning.
        strength: in (0, 1], how far the input is noised before the walk back (SDEdit, arxiv 2108.01073):
            default 1 with a mask or ``invert``, 0.6 otherwise.
        invert: start from the DDIM inversion of the input instead of noise (deterministic samplers):
            strength 1 then comes back to the input.
        source: with ``invert``, the input's own condition (e.g. ``{"labels": its class}``; keys it lacks
            come from ``condition``) to invert under, ``{}`` for the null condition; default: ``condition``.
            Inverting under the source and sampling under a new condition is an edit that keeps the input's
            layout (Mokady et al. 2023, arxiv 2211.09794).
        negative: guide away from this condition instead of the null condition (keys it lacks come from
            ``condition``; needs guidance != 1): eps = eps_neg + guidance (eps_cond - eps_neg). For an edit,
            the input's own class or prompt, so that the guidance pushes from the old content to the new.
        jump_length, resample: RePaint's resampling (resample = 1: known-region replacement only).
        feather: pixels over which the regenerated region fades in at the seam (0 = a hard edge).
            The kept pixels are the input's own values, bit for bit, whatever the feather.

    Returns:
        (n, C, H, W) float32 images in [0, 1], on the CPU.
    """
    if sampler not in SAMPLERS:
        raise UserError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    if steps < 1:
        raise UserError(f"steps must be at least 1, got {steps}")
    if n < 1:
        raise UserError(f"the number of images must be at least 1, got {n}")
    guidance = resolve_guidance(denoiser, guidance, condition, editing=init is not None)
    _check_condition(denoiser, condition, guidance, n)
    for name, other in (("source", source), ("negative", negative)):
        if other:
            if not condition:
                raise UserError(f"{name}=... needs a condition to compare with (a class, a prompt, features)")
            _check_condition(denoiser, other, 1.0, n)
            if not set(other) <= set(condition):
                raise UserError(f"{name}=... has {sorted(other)}, the condition only {sorted(condition)}: give one "
                                "of the condition's kinds (a class for a class model, a prompt for a text model)")
    if negative is not None and guidance == 1.0:
        raise UserError("a negative condition only acts through guidance: pass guidance > 1 (e.g. 3)")
    if source is not None and not invert:
        raise UserError("source=... is the condition the inversion runs under: it needs invert=True")
    # A latent model (fromnoise.autoencoder.LatentDenoiser) is sampled in its latent space, then decoded once;
    # its latents have unit variance, not the [-1, 1] range of pixels, so x0 is not clamped during the walk.
    decode = getattr(denoiser, "decode_latents", None)
    shape = denoiser.latent_shape if decode is not None else denoiser.image_shape
    clip_x0 = clip_x0 and decode is None
    edit = plan_edit(denoiser.image_shape, n, init=init, mask=mask, strength=strength, invert=invert,
                     jump_length=jump_length, resample=resample, feather_px=feather, sampler=sampler, eta=eta)
    # the walk of an edit: a latent model walks the latents of the input under its mask at latent size; the
    # final blend (edit.finish) stays in pixels, so the kept pixels are still the input's own
    walk = denoiser.latent_edit(edit) if edit is not None and decode is not None else edit
    device = torch.device(device) if device is not None else next(denoiser.parameters()).device
    denoiser.eval()
    alpha_bar = denoiser.alpha_bar.cpu()
    ts = (walk.grid(denoiser.num_timesteps, steps, spacing, alpha_bar) if walk is not None
          else timestep_grid(denoiser.num_timesteps, steps, spacing, alpha_bar))
    fn = SAMPLERS[sampler]
    amp = network_dtype(device)
    options = {"eta": eta} if sampler == "ddim" else {}
    out = []
    bar = tqdm(total=n, desc=f"{sampler} x{steps}", unit="img", disable=not progress)
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        cond = _on(_slice(condition, lo, hi), device)
        gens = [torch.Generator().manual_seed(seed + i) for i in range(lo, hi)]
        x = noise[lo:hi].to(device) if noise is not None else randn(gens, (hi - lo, *shape), device)

        neg = _on(_slice(negative, lo, hi), device)

        def denoise(x_t, t, cond=cond, guidance=guidance, neg=neg):
            t_vec = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                eps, x0 = (denoiser.predict(x_t, t_vec, cond, guidance) if neg is None  # the contract's 4 arguments
                           else denoiser.predict(x_t, t_vec, cond, guidance, negative=neg))
            eps, x0 = eps.to(x_t.dtype), x0.to(x_t.dtype)  # the sampler's arithmetic in its own precision
            if clip_x0:
                x0 = x0.clamp(-1, 1)
                ab = float(alpha_bar[t])
                eps = (x_t - ab**0.5 * x0) / (1 - ab) ** 0.5
            return eps, x0

        cb = None if callback is None else (lambda d, lo=lo: callback({**d, "offset": lo}))
        if cb is not None and decode is not None:  # a latent model's frames are shown as pixels: decoded
            def cb(d, lo=lo):
                return callback({**d, "x": decode(d["x"]), "x0": decode(d["x0"]), "offset": lo})
        if walk is not None:
            inv = None
            if source is not None:  # the inversion under the input's own condition (or the null condition)
                src = {**cond, **_on(_slice(source, lo, hi), device)} if source else None

                def inv(x_t, t, src=src):
                    return denoise(x_t, t, cond=src, guidance=1.0, neg=None)
            x = walk.walk(fn, denoise, x, lo, hi, ts, alpha_bar, invert_denoise=inv, generators=gens, callback=cb,
                          **options)
        else:
            x = fn(denoise, x, ts, alpha_bar, generators=gens, callback=cb, **options)
        if decode is not None:  # the one decoding step after the sampler (batched, tiled: flat memory)
            x = decode(x)
        images = ((x.float().clamp(-1, 1) + 1) / 2).cpu()
        out.append(edit.finish(images, lo, hi) if edit is not None else images)
        bar.update(hi - lo)
    bar.close()
    return torch.cat(out)


def generate_across_processes(denoiser, n: int = 16, *, seed: int = 0, condition: dict | None = None,
                              noise: torch.Tensor | None = None, callback=None, **kwargs) -> torch.Tensor:
    """:func:`generate` with the ``n`` images split across the processes of an ``accelerate launch``
    (contiguous blocks, process 0 first) and gathered in order: image i still depends only on
    ``seed + i``, so the result is the one-process result. Returns all ``n`` images on every process.

    One process (no launcher): exactly :func:`generate`. Image-to-image inputs are not split.
    """
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())  # the launcher's state, if one is set up already
    world, rank = state.num_processes, state.process_index
    if world == 1:
        return generate(denoiser, n, seed=seed, condition=condition, noise=noise, callback=callback, **kwargs)
    if kwargs.get("init") is not None or kwargs.get("mask") is not None:
        raise UserError("image-to-image (--init, --inpaint) is not split across processes; run it on one process")
    if n < 1:
        raise UserError(f"the number of images must be at least 1, got {n}")
    per = -(-n // world)
    lo, hi = min(n, rank * per), min(n, (rank + 1) * per)
    if hi > lo:
        cb = None if callback is None else (lambda d: callback({**d, "offset": d["offset"] + lo}))
        if kwargs.get("negative") is not None:
            kwargs = {**kwargs, "negative": _slice(kwargs["negative"], lo, hi)}
        mine = generate(denoiser, hi - lo, seed=seed + lo, condition=_slice(condition, lo, hi),
                        noise=None if noise is None else noise[lo:hi], callback=cb, **kwargs)
    else:  # more processes than images: this one has none
        mine = torch.zeros(0, *denoiser.image_shape)
    padded = torch.zeros(per, *mine.shape[1:], dtype=mine.dtype)
    padded[: len(mine)] = mine
    parts = [torch.empty_like(padded, device=state.device) for _ in range(world)]
    torch.distributed.all_gather(parts, padded.to(state.device))
    return torch.cat([part[: max(0, min(n, (r + 1) * per) - min(n, r * per))].cpu() for r, part in enumerate(parts)])
