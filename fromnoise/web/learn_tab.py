"""The Learn tab (reference 001): what a diffusion model does, shown on the chosen model.

The layout and its callbacks; the computations are :mod:`.learn_work` and the figures :mod:`fromnoise.viz`.
"""

from __future__ import annotations

from ..choices import DEFAULT_SAMPLER, SAMPLER_NAMES
from ..viz.maps import attention_figure, embedding_figure
from .common import page_errors
from .learn_work import (
    attention_blocks,
    attention_maps,
    data_images,
    embeddings,
    forward_process,
    image_from_upload,
    readable,
    reverse_process,
    token_names,
)


def build(ctx, model_box):
    """Lay out the Learn tab and wire its events."""
    import gradio as gr

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
        rev_sampler = gr.Dropdown(list(SAMPLER_NAMES), value=DEFAULT_SAMPLER, label="sampler")
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
        picture, fig, note = on_forward(name, 0, min(250, T - 1), None) if readable(model) else \
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
