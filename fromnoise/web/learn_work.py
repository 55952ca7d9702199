"""The Learn tab's work (no gradio): what a diffusion model does, computed on the chosen model.

* the forward process: a data set image noised to any timestep t with the model's own schedule, and the
  schedule's signal and noise levels (the figure of ``fromnoise visualize``, :mod:`fromnoise.viz.forward`);
* the reverse process: ``fromnoise.generate``'s per-step callback, as two animations (x_t, and the
  predicted clean image x0) and the frame grid of ``fromnoise sample --show-intermediate``;
* attention maps of one attention block at one sampling step (reference 001's extension "plot attention
  maps"): the block records its own probabilities (``Attention.record``) at the network calls of that
  step of the sampler's own walk; self-attention shows how much attention each pixel receives (per head),
  cross-attention where each prompt token is looked at;
* the learned class or caption embeddings (drawn in 2-D by :func:`fromnoise.viz.maps.embedding_figure`).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ..choices import DEFAULT_SAMPLER
from ..conditioning.features import load_like
from ..conditioning.request import build_condition
from ..conditioning.text import load_text_model
from ..data import load_dataset, to_float
from ..errors import UserError
from ..models.blocks import Attention
from ..sampling.generate import generate
from ..viz import save_frames
from ..viz.forward import noised_frames, schedule_figure
from .common import display
from .generate_settings import MAX_STEPS

_DATA: dict[tuple, torch.Tensor] = {}  # (source, size, channels) -> a few images in [-1, 1]


# ------------------------------------------------------------------------------ the forward process
def data_images(model, limit: int = 64) -> torch.Tensor:
    """Up to ``limit`` training images of the model (float in [-1, 1]), from the data its config records."""
    desc = model.denoiser.config.get("data", {})
    source = desc.get("path") if desc.get("source") == "folder" else desc.get("source")
    if not source:
        raise UserError("this checkpoint does not record its data set; upload an image instead")
    key = (str(source), model.image_size, model.channels)
    if key not in _DATA:
        try:
            data = load_dataset(source, image_size=model.image_size, channels=model.channels, limit=limit)
        except UserError as err:
            raise UserError(f"the model's data set is not readable here ({err}); upload an image instead") from None
        _DATA[key] = to_float(data.images)
    return _DATA[key]


def image_from_upload(path: str, model) -> torch.Tensor:
    """An uploaded image at the model's size and channels, (1, C, H, W) in [-1, 1]."""
    arr = load_like(path, model.image_size, model.channels)  # the loader's resize and channel rules
    return to_float(torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None])


def readable(model) -> bool:
    """Whether the model's data set can be read here (else the page asks for an upload)."""
    try:
        data_images(model)
        return True
    except UserError:
        return False


def forward_process(model, x0: torch.Tensor, t: int, seed: int = 0) -> tuple[np.ndarray, Figure, str]:
    """(x_t as uint8 RGB among other t, the schedule plot with t marked, a one-line description)."""
    den = model.denoiser
    T = den.num_timesteps
    if not 0 <= t < T:
        raise UserError(f"t must be in [0, {T - 1}] for this model, got {t}")
    ab = den.alpha_bar.double().cpu()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    ts = sorted({0, *(max(0, round(T * k / 7) - 1) for k in range(1, 8)), t})
    picture = display(noised_frames(x0, ts, ab, noise), nrow=len(ts), width=96 * len(ts))
    fig = schedule_figure(ab, f"{den.config['diffusion']['schedule']} schedule, T = {T}", current=t)
    a = float(ab[t])
    note = (f"t = {t}: x_t = {math.sqrt(a):.3f} x0 + {math.sqrt(1 - a):.3f} noise (SNR {a / (1 - a):.3g}). "
            f"Columns: t = {', '.join(map(str, ts))}.")
    return picture, fig, note


# ------------------------------------------------------------------------------ the reverse process
def condition_of(model, text: str, n: int) -> dict | None:
    """A class name or a prompt, through the request builder; None for an empty text."""
    text = (text or "").strip()
    if not text:
        return None
    if "class" in model.kinds:
        cond, _ = build_condition(model.denoiser, {"classes": [text]}, n)
    elif "text" in model.kinds:
        cond, _ = build_condition(model.denoiser, {"prompts": [text]}, n)
    else:
        raise UserError("this model takes no class or prompt; leave the condition empty")
    return cond


def reverse_process(model, *, n: int = 4, steps: int = 20, sampler: str = DEFAULT_SAMPLER, seed: int = 0,
                    text: str = "", out_dir: str | Path, frames: int = 20) -> tuple[str, str, str]:
    """Paths of (x_t animation GIF, x0 animation GIF, the x0 frames as a grid PNG)."""
    if not 1 <= int(steps) <= MAX_STEPS or not 1 <= int(n) <= 16:
        raise UserError(f"the animation takes 1 to 16 images and 1 to {MAX_STEPS} steps")
    keep = set(torch.linspace(0, steps - 1, min(frames, steps)).round().long().tolist())
    xs, x0s = [], []

    def callback(d):
        if d["offset"] == 0 and d["i"] in keep:
            xs.append(((d["x"].float().clamp(-1, 1) + 1) / 2).cpu())
            x0s.append(((d["x0"].float().clamp(-1, 1) + 1) / 2).cpu())

    generate(model.denoiser, int(n), sampler=sampler, steps=int(steps), seed=int(seed),
             condition=condition_of(model, text, int(n)), callback=callback)
    out = Path(tempfile.mkdtemp(prefix="reverse-", dir=out_dir))
    _, a = save_frames(xs, gif=out / "x_t.gif")
    c, b = save_frames(x0s, out / "x0_frames.png", out / "x0.gif")
    return str(a), str(b), str(c)


# ------------------------------------------------------------------------------ attention maps
def attention_blocks(model) -> list[str]:
    """Names of the attention modules of the model's network ("down.3.attn", "mid.1", "up.4.cross"...)."""
    return [name for name, m in model.denoiser.net.named_modules() if isinstance(m, Attention)]


def attention_maps(model, block: str, *, step: int, steps: int = 20, sampler: str = DEFAULT_SAMPLER,
                   seed: int = 0, text: str = "") -> tuple[torch.Tensor, torch.Tensor, int, bool]:
    """Generate one image and record ``block``'s attention at sampling step ``step``.

    Returns (image (C, H, W) in [0, 1], maps (K, h, w), the timestep t, cross) where the K maps are
    one per head (self-attention: the attention each pixel receives, averaged over the queries) or
    one per context token (cross-attention: the attention from each pixel to that token). The step is
    counted on the sampler's own walk (its callbacks), so t is the grid's, whatever its spacing.
    """
    modules = dict(model.denoiser.net.named_modules())
    if block not in modules or not isinstance(modules[block], Attention):
        raise UserError(f"no attention block '{block}' in this model; choose one of: "
                        f"{', '.join(attention_blocks(model)) or 'none (this network has no attention)'}")
    if not 1 <= int(steps) <= 1000 or not 0 <= int(step) < int(steps):
        raise UserError(f"the step must lie in [0, {int(steps) - 1}] (and steps in [1, 1000])")
    mod, step = modules[block], int(step)
    state: dict = {"i": 0, "t": None, "maps": None, "size": None}

    def pre(net, args):  # before each network call: record during the first call of the asked step only
        mod.record = state["i"] == step and state["maps"] is None
        mod.weights = None

    def hook(m, args, out):
        if m.record and m.weights is not None:
            state["maps"], state["size"] = m.weights, args[0].shape[-2:]

    def callback(d):  # after each step of the walk
        if d["i"] == step:
            state["t"] = int(d["t"])
        state["i"] = d["i"] + 1

    handles = [model.denoiser.net.register_forward_pre_hook(pre), mod.register_forward_hook(hook)]
    try:
        image = generate(model.denoiser, 1, sampler=sampler, steps=int(steps), seed=int(seed),
                         condition=condition_of(model, text, 1), callback=callback)[0]
    finally:
        for h in handles:
            h.remove()
        mod.record, mod.weights = False, None
    if state["maps"] is None:
        raise UserError(f"the block '{block}' was not used at step {step} (a cross-attention block without a prompt "
                        "is skipped); write a prompt or choose another block")
    w, (hh, ww) = state["maps"], state["size"]
    if mod.cross:
        maps = w.mean(0).transpose(0, 1).reshape(-1, hh, ww)  # (L, h, w): pixels' attention to each token
    else:
        maps = w.mean(1).reshape(-1, hh, ww)  # (nh, h, w): attention received by each pixel
    return image, maps, state["t"], mod.cross


def token_names(model, text: str, count: int) -> list[str]:
    """The prompt's tokens as the frozen text model splits them, padded to ``count``."""
    try:
        tok = load_text_model(model.denoiser.encoders["text"].model_name).tokenizer
        names = tok.convert_ids_to_tokens(tok(text)["input_ids"])
    except Exception:  # labels only: fall back to positions
        names = []
    return [names[i] if i < len(names) else "(pad)" for i in range(count)]


# ------------------------------------------------------------------------------ embeddings
def embeddings(model, extra_prompts: str = "") -> tuple[np.ndarray, list[str], str]:
    """(points (N, E), labels, what they are): the learned class embeddings, or the caption
    embeddings after the text encoder's learned projection (training captions + ``extra_prompts``,
    separated by ';')."""
    den = model.denoiser
    with torch.no_grad():
        if "class" in den.encoders:
            enc = den.encoders["class"]
            points = enc.embed.weight.detach().cpu().numpy()  # (K + 1, E); row K is the null class
            return points, list(enc.class_names) + ["(null)"], "learned class embeddings"
        if "text" in den.encoders:
            enc = den.encoders["text"]
            texts = list(enc.captions) + [p.strip() for p in (extra_prompts or "").split(";") if p.strip()]
            if not texts:
                raise UserError("this checkpoint keeps no training captions; write prompts separated by ';'")
            e = enc.embed(texts)
            points = enc.pooled(e["text_pooled"].to(enc.null_emb.device).float()).cpu().numpy()
            return points, texts, "caption embeddings (the learned projection of the pooled sentence embedding)"
    raise UserError("this model has no class or caption embeddings to show (it is conditioned on "
                    f"{', '.join(model.kinds) or 'nothing'})")
