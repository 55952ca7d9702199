"""The Learn tab (reference 001): what a diffusion model does, shown on the chosen model.

* the forward process: a data set image noised to any timestep t (``q_sample`` with the model's
  own schedule), and the schedule's signal and noise levels with t marked;
* the reverse process: ``fromnoise.generate``'s per-step callback, as two animations (x_t, and the
  predicted clean image x0);
* attention maps of one attention block at one sampling step (reference 001's extension "plot
  attention maps"): captured with a forward hook while ``generate`` runs; self-attention shows how
  much attention each pixel receives (per head), cross-attention where each prompt token is looked at;
* the learned class or caption embeddings in 2-D by PCA.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from .. import generate
from ..conditioning.request import build_condition
from ..data import load_dataset, to_float
from ..diffusion import q_sample
from ..errors import UserError
from ..models.blocks import Attention
from ..sampling import DEFAULT_SAMPLER, SAMPLERS, timestep_grid
from ..viz import grid, save_gif

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
    from ..conditioning.features import load_like

    arr = load_like(path, model.image_size, model.channels)  # the loader's resize and channel rules
    return to_float(torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None])


def forward_process(model, x0: torch.Tensor, t: int, seed: int = 0) -> tuple[np.ndarray, Figure, str]:
    """(x_t as uint8 RGB, the schedule plot with t marked, a one-line description)."""
    den = model.denoiser
    T = den.num_timesteps
    if not 0 <= t < T:
        raise UserError(f"t must be in [0, {T - 1}] for this model, got {t}")
    ab = den.alpha_bar.double().cpu()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    ts = sorted({0, *(round(T * k / 7) - 1 for k in range(1, 8)), t})
    ts = [max(0, u) for u in ts]
    cols = [q_sample(x0, torch.tensor([u]), noise, ab.float()) for u in ts]
    strip = ((torch.cat(cols).clamp(-1, 1) + 1) / 2)
    from .generate_work import display

    picture = display(strip, nrow=len(ts), width=96 * len(ts))
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    ax.plot(ab.sqrt().numpy(), label="signal sqrt(alpha_bar_t)")
    ax.plot((1 - ab).sqrt().numpy(), label="noise sqrt(1 - alpha_bar_t)")
    ax.axvline(t, color="black", lw=1)
    ax.set_xlabel("t")
    ax.set_title(f"{den.config['diffusion']['schedule']} schedule, T = {T}")
    ax.legend(fontsize=8)
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
    """Paths of (x_t animation GIF, x0 animation GIF, the frames as a grid PNG)."""
    from .generate_work import MAX_STEPS

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
    nrow = min(4, int(n))
    a = save_gif([grid(f, nrow=nrow) for f in xs], out / "x_t.gif")
    b = save_gif([grid(f, nrow=nrow) for f in x0s], out / "x0.gif")
    stack = torch.stack(x0s).transpose(0, 1).reshape(-1, *x0s[0].shape[1:])  # rows: images, columns: steps
    from ..viz import save_grid

    c = save_grid(stack, out / "x0_frames.png", nrow=len(x0s))
    return str(a), str(b), str(c)


# ------------------------------------------------------------------------------ attention maps
def attention_blocks(model) -> list[str]:
    """Names of the attention modules of the model's network ("down.3.attn", "mid.1", "up.4.cross"...)."""
    return [name for name, m in model.denoiser.net.named_modules() if isinstance(m, Attention)]


def _weights(m: Attention, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor | None:
    """Attention probabilities (nh, HW, L) of the first image, recomputed from the module's own layers."""
    c = x.shape[1]
    h = m.norm(x[:1]).flatten(2).transpose(1, 2)  # (1, HW, C)
    src = context[:1] if m.cross else h
    if m.cross and context is None:
        return None
    q = m.q(h)
    k, _ = m.kv(src).chunk(2, dim=-1)
    hs = c // m.heads
    q = q.reshape(1, -1, m.heads, hs).transpose(1, 2)  # (1, nh, HW, hs)
    k = k.reshape(1, -1, m.heads, hs).transpose(1, 2)  # (1, nh, L, hs)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs), dim=-1)[0]  # (nh, HW, L)


def attention_maps(model, block: str, *, step: int, steps: int = 20, sampler: str = DEFAULT_SAMPLER,
                   seed: int = 0, text: str = "") -> tuple[torch.Tensor, torch.Tensor, int, bool]:
    """Generate one image and capture ``block``'s attention at sampling step ``step``.

    Returns (image (C, H, W) in [0, 1], maps (K, h, w), the timestep t, cross) where the K maps are
    one per head (self-attention: the attention each pixel receives, averaged over the queries) or
    one per context token (cross-attention: the attention from each pixel to that token).
    """
    modules = dict(model.denoiser.net.named_modules())
    if block not in modules or not isinstance(modules[block], Attention):
        raise UserError(f"no attention block '{block}' in this model; choose one of: "
                        f"{', '.join(attention_blocks(model)) or 'none (this network has no attention)'}")
    if not 1 <= int(steps) <= 1000 or not 0 <= int(step) < int(steps):
        raise UserError(f"the step must lie in [0, {int(steps) - 1}] (and steps in [1, 1000])")
    mod = modules[block]
    t_want = timestep_grid(model.denoiser.num_timesteps, int(steps))[int(step)]
    state: dict = {"t": None, "maps": None, "size": None}

    def pre(net, args):
        state["t"] = int(args[1][0])

    def hook(m, args, out):
        if state["t"] != t_want or state["maps"] is not None:
            return
        x, context = args[0], (args[1] if len(args) > 1 else None)
        w = _weights(m, x, context)
        if w is not None:
            state["maps"], state["size"] = w, x.shape[-2:]

    handles = [model.denoiser.net.register_forward_pre_hook(pre), mod.register_forward_hook(hook)]
    try:
        image = generate(model.denoiser, 1, sampler=sampler, steps=int(steps), seed=int(seed),
                         condition=condition_of(model, text, 1))[0]
    finally:
        for h in handles:
            h.remove()
    if state["maps"] is None:
        raise UserError(f"the block '{block}' was not used at step {step} (a cross-attention block without a prompt "
                        "is skipped); write a prompt or choose another block")
    w, (hh, ww) = state["maps"], state["size"]
    if mod.cross:
        maps = w.mean(0).transpose(0, 1).reshape(-1, hh, ww)  # (L, h, w): pixels' attention to each token
    else:
        maps = w.mean(1).reshape(-1, hh, ww)  # (nh, h, w): attention received by each pixel
    return image, maps, t_want, mod.cross


def attention_figure(image: torch.Tensor, maps: torch.Tensor, titles: list[str], heading: str) -> Figure:
    """The image and its attention maps side by side."""
    k = len(maps) + 1
    cols = min(k, 6)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(2.0 * cols, 2.1 * rows))
    ax = fig.add_subplot(rows, cols, 1)
    img = image.permute(1, 2, 0).numpy()
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img[..., :3], cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_title("image", fontsize=8)
    ax.axis("off")
    for i, (m, title) in enumerate(zip(maps, titles)):
        ax = fig.add_subplot(rows, cols, i + 2)
        ax.imshow(m.numpy(), cmap="magma", interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(heading, fontsize=9)
    return fig


def token_names(model, text: str, count: int) -> list[str]:
    """The prompt's tokens as the frozen text model splits them, padded to ``count``."""
    from ..conditioning.text import load_text_model

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


def embedding_figure(points: np.ndarray, labels: list[str], what: str) -> Figure:
    """The points in 2-D by PCA (scikit-learn), each labelled."""
    from sklearn.decomposition import PCA

    if len(points) < 3:
        raise UserError("PCA needs at least 3 embeddings; add prompts separated by ';'")
    pca = PCA(n_components=2).fit(points)
    xy = pca.transform(points)
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    ax.scatter(xy[:, 0], xy[:, 1], s=18)
    for (x, y), label in zip(xy, labels):
        ax.annotate(label[:40], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    r = pca.explained_variance_ratio_
    ax.set_xlabel(f"PC 1 ({100 * r[0]:.0f}% of the variance)")
    ax.set_ylabel(f"PC 2 ({100 * r[1]:.0f}%)")
    ax.set_title(what, fontsize=9)
    ax.grid(alpha=0.3)
    return fig


# ------------------------------------------------------------------------------------- page
def build(ctx, model_box):
    """Lay out the Learn tab and wire its events."""
    import gradio as gr

    from .app import page_errors

    gr.Markdown("### The forward process: an image dissolves into noise\n"
                "x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, with this model's schedule.")
    with gr.Row():
        with gr.Column(scale=1):
            index = gr.Slider(0, 63, 0, step=1, label="data set image", elem_id="data-index")
            t_slider = gr.Slider(0, 999, 250, step=1, label="timestep t", elem_id="timestep")
            upload = gr.Image(label="or your own image", type="filepath", sources=["upload"], height=140)
        with gr.Column(scale=2):
            forward_img = gr.Image(label="x_t at the marked t, among other t", format="png", interactive=False,
                                   elem_id="forward-image")
            forward_note = gr.Markdown("", elem_id="forward-note")
            schedule = gr.Plot(label="noise schedule", format="png", elem_id="schedule-plot")

    gr.Markdown("### The reverse process: from noise to an image")
    with gr.Row():
        cond_text = gr.Textbox(label="class or prompt (optional; empty: the model's null condition)",
                               elem_id="learn-condition")
        rev_sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULT_SAMPLER, label="sampler")
        rev_steps = gr.Slider(1, 200, 20, step=1, label="steps")
        rev_seed = gr.Number(0, precision=0, label="seed", minimum=0)
        animate = gr.Button("Animate", elem_id="animate")
    with gr.Row():
        gif_xt = gr.Image(label="x_t, step by step", type="filepath", interactive=False, elem_id="gif-xt")
        gif_x0 = gr.Image(label="predicted x0, step by step", type="filepath", interactive=False, elem_id="gif-x0")
        frames = gr.Image(label="x0 frames (rows: images, columns: steps)", type="filepath", interactive=False)

    gr.Markdown("### Attention maps of one block, for a generated image")
    with gr.Row():
        block = gr.Dropdown([], label="attention block", elem_id="attention-block")
        att_step = gr.Slider(0, 19, 10, step=1, label="sampling step (of 20)", elem_id="attention-step")
        att_go = gr.Button("Show attention", elem_id="show-attention")
    att_plot = gr.Plot(label="attention", format="png", elem_id="attention-plot")

    gr.Markdown("### Learned embeddings in 2-D (PCA)")
    with gr.Row():
        extra = gr.Textbox(label="more prompts to place (text models; separated by ';')")
        emb_go = gr.Button("Show embeddings", elem_id="show-embeddings")
    emb_plot = gr.Plot(label="embeddings", format="png", elem_id="embedding-plot")

    def on_forward(name, i, t, path):
        if not name:
            return gr.update(), gr.update(), "No model yet."
        model = page_errors(ctx.store.get, name)
        x0 = page_errors(image_from_upload, path, model) if path else page_errors(data_images, model)
        x0 = x0[int(i) % len(x0)][None]
        t = min(int(t), model.denoiser.num_timesteps - 1)
        picture, fig, note = page_errors(forward_process, model, x0, t)
        return picture, fig, note

    for trigger in (index.release, t_slider.release, upload.change):
        trigger(on_forward, [model_box, index, t_slider, upload], [forward_img, schedule, forward_note],
                api_visibility="private")

    def on_model(name):
        if not name:
            return gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        model = page_errors(ctx.store.get, name)
        blocks = attention_blocks(model)
        T = model.denoiser.num_timesteps
        picture, fig, note = on_forward(name, 0, min(250, T - 1), None) if _readable(model) else \
            (None, None, "The model's data set is not readable here; upload an image.")
        return (gr.update(maximum=T - 1, value=min(250, T - 1)),
                gr.update(choices=blocks, value=blocks[-1] if blocks else None), picture, fig, note)

    outs = [t_slider, block, forward_img, schedule, forward_note]
    model_box.change(on_model, model_box, outs, api_visibility="private")
    ctx.on_load.append((on_model, [model_box], outs))

    def on_animate(name, text, sampler, steps, seed):
        model = page_errors(ctx.store.get, name)
        return page_errors(reverse_process, model, n=4, steps=int(steps), sampler=sampler, seed=int(seed or 0),
                           text=text, out_dir=ctx.tmp)

    animate.click(on_animate, [model_box, cond_text, rev_sampler, rev_steps, rev_seed], [gif_xt, gif_x0, frames],
                  api_name="animate", concurrency_id="generate", concurrency_limit=ctx.concurrency)

    def on_attention(name, block_name, step, text, sampler, seed):
        model = page_errors(ctx.store.get, name)
        image, maps, t, cross = page_errors(attention_maps, model, block_name, step=int(step), steps=20,
                                            sampler=sampler, seed=int(seed or 0), text=text)
        titles = token_names(model, text, len(maps)) if cross else [f"head {i + 1}" for i in range(len(maps))]
        kind = "cross-attention: each token's map" if cross else "self-attention received per pixel, per head"
        return attention_figure(image, maps, titles, f"{block_name} at step {int(step)} (t = {t}): {kind}")

    att_go.click(on_attention, [model_box, block, att_step, cond_text, rev_sampler, rev_seed], att_plot,
                 api_name="attention", concurrency_id="generate", concurrency_limit=ctx.concurrency)

    def on_embeddings(name, prompts):
        model = page_errors(ctx.store.get, name)
        points, labels, what = page_errors(embeddings, model, prompts)
        return page_errors(embedding_figure, points, labels, what)

    emb_go.click(on_embeddings, [model_box, extra], emb_plot, api_name="embeddings")


def _readable(model) -> bool:
    try:
        data_images(model)
        return True
    except UserError:
        return False
