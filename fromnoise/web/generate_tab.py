"""The Generate tab: the controls follow the model's conditioning; the denoising streams in.

The gradio layout and its callbacks; the work they call is :mod:`.generate_settings` (the request, its
checks, the command line), :mod:`.uploads` (the uploads as the CLI's files) and :mod:`.generate_work` (the
run in a worker thread), which the ``/sample`` and ``/interpolate`` API endpoints (:mod:`.generate_api`) share.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..choices import DEFAULT_SAMPLER, SAMPLER_NAMES
from ..features import FEATURE_NAMES, GROUPS
from ..image_files import read_image
from ..img2img_request import EDIT_DEFAULTS, EDIT_GUIDANCE, STRENGTH_FULL, STRENGTH_VARIATION
from ..sampling.generate import guidance_trained, suggested_guidance
from . import generate_api
from .common import page_errors, stream
from .generate_settings import MAX_FRAMES, MAX_IMAGES, MAX_STEPS, Settings, explanation, group_title
from .generate_work import interpolate_run, run
from .uploads import inpaint_region, like_values, mask_from_image

GUIDANCE_LABEL = "guidance (1 = plain conditional)"


def guidance_control(denoiser) -> dict:
    """The guidance slider's state for a model (``gr.update``'s keywords): at the preset's measured scale and free
    to move where guidance has a null condition to act from; held at 1, the reason in its label, where it has none
    (an unconditional model, or one trained with ``--condition-dropout 0``)."""
    if guidance_trained(denoiser):
        return {"value": suggested_guidance(denoiser), "interactive": True, "label": GUIDANCE_LABEL}
    why = "trained without condition dropout" if denoiser.conditional else "an unconditional model"
    return {"value": 1.0, "interactive": False, "label": f"guidance: 1 ({why})"}


# ------------------------------------------------------------------------------------- page
def build(ctx, model_box):
    """Lay out the Generate tab inside the current ``gr.Tab`` and wire its events."""
    import gradio as gr

    with gr.Row():
        with gr.Column(scale=1):
            cond_note = gr.Markdown("", elem_id="cond-note")
            class_box = gr.Dropdown(label="class", choices=[], visible=False, elem_id="class-box")
            prompt_box = gr.Textbox(label="prompt", visible=False, elem_id="prompt-box",
                                    placeholder="a photo of ...")
            with gr.Row():
                sampler = gr.Dropdown(list(SAMPLER_NAMES), value=DEFAULT_SAMPLER, label="sampler", elem_id="sampler")
                steps = gr.Slider(1, MAX_STEPS, 20, step=1, label="steps", elem_id="steps")
            with gr.Row():
                guidance = gr.Slider(0, 10, 1.0, step=0.1, label=GUIDANCE_LABEL, elem_id="guidance")
                seed = gr.Number(0, label="seed (image i uses seed + i)", precision=0, minimum=0, elem_id="seed")
                count = gr.Slider(1, MAX_IMAGES, 4, step=1, label="images", elem_id="count")
            with gr.Row():
                go = gr.Button("Generate", variant="primary", elem_id="generate")
                stop = gr.Button("Stop", variant="stop", elem_id="stop-generate")
            with gr.Group(visible=False) as feature_group:
                use_features = gr.Checkbox(True, label="condition on these feature values", elem_id="use-features")
                like = gr.Image(label="like this image: its measured features fill the sliders (and its mask "
                                      "the mask)", type="filepath", sources=["upload", "clipboard"], height=160,
                                elem_id="like-image")
                sliders = []
                for group, names in GROUPS.items():
                    with gr.Accordion(group_title(group), open=group == "color", elem_id=f"group-{group}"):
                        for name in names:
                            sliders.append(gr.Slider(0, 1, 0.5, step=0.01, label=name, info=explanation(name),
                                                     elem_id=f"feature-{name}"))
            with gr.Group(visible=False) as mask_group:
                use_mask = gr.Checkbox(False, label="condition on this object mask (white = object)",
                                       elem_id="use-mask")
                mask_box = gr.ImageEditor(label="object mask: draw or upload", type="numpy", image_mode="RGBA",
                                          canvas_size=(256, 256), height=300, elem_id="mask-editor",
                                          brush=gr.Brush(colors=["#ffffff", "#000000"], default_color="#ffffff"),
                                          format="png")
            with gr.Accordion("image-to-image: variations, edits, inpainting", open=False, elem_id="i2i"):
                i2i_mode = gr.Radio(["off", "variation / edit", "inpaint"], value="off", elem_id="i2i-mode",
                                    label="off: from noise · variation / edit: the upload noised to the strength, "
                                          "then generated back under the controls above (SDEdit) · inpaint: "
                                          "regenerate the white of the mask, keep the rest (RePaint)")
                init_image = gr.Image(label="init image", type="filepath", sources=["upload", "clipboard"],
                                      height=160, elem_id="init-image", elem_classes="pixelated")
                with gr.Row():
                    strength = gr.Slider(0.01, 1, STRENGTH_VARIATION, step=0.01, elem_id="strength",
                                         label="strength: how far the upload is noised (1 = from pure noise)")
                    invert = gr.Checkbox(EDIT_DEFAULTS.invert, elem_id="invert",
                                         label="DDIM inversion: start from the upload run backwards instead of "
                                               "noise (ddim with eta 0, dpmpp_2m, euler, heun)")
                source_box = gr.Textbox("", elem_id="source", label="the upload is (its class or prompt; optional): "
                                        "an edit then inverts under it and guides from it to the class or prompt "
                                        "above, keeping more of the upload's layout (class edits: the measured best "
                                        f"trade-off is inversion, sampler ddim, guidance {EDIT_GUIDANCE:g})")
                with gr.Group(visible=False) as inpaint_group:
                    inpaint_draw = gr.ImageEditor(label="inpainting mask: draw white over the upload where to "
                                                        "regenerate", type="numpy", image_mode="RGBA",
                                                  canvas_size=(256, 256), height=300, elem_id="inpaint-editor",
                                                  brush=gr.Brush(colors=["#ffffff"], default_color="#ffffff"),
                                                  format="png")
                    inpaint_file = gr.Image(label="or upload the mask (white = regenerate; used when given)",
                                            type="filepath", sources=["upload", "clipboard"], height=170,
                                            elem_id="inpaint-mask")
                    with gr.Row():
                        resample = gr.Slider(1, 20, EDIT_DEFAULTS.resample, step=1, elem_id="resample",
                                             label="resample: each stretch denoised this many times (1: plain "
                                                   "replacement)")
                        jump_length = gr.Slider(1, 50, EDIT_DEFAULTS.jump_length, step=1, elem_id="jump-length",
                                                label="jump length (steps per jump back)")
                        feather = gr.Slider(0, 8, EDIT_DEFAULTS.feather, step=0.5, elem_id="feather",
                                            label="feather (pixels of seam)")
            with gr.Accordion("interpolate between two seeds", open=False, elem_id="interp"):
                with gr.Row():
                    seed_to = gr.Number(1, label="to seed", precision=0, minimum=0, elem_id="seed-to")
                    frames = gr.Slider(2, MAX_FRAMES, 8, step=1, label="frames", elem_id="interp-frames")
                interp_go = gr.Button("Interpolate", elem_id="interpolate")
                interp_strip = gr.Image(label="strip: seed -> to seed (slerp of the noise)", format="png",
                                        interactive=False, elem_id="interp-strip", elem_classes="pixelated")
                interp_gif = gr.Image(label="GIF", type="filepath", interactive=False, elem_id="interp-gif",
                                      elem_classes="pixelated")
                interp_command = gr.Code(label="the same from the command line", language="shell", lines=1,
                                         elem_id="interp-command", interactive=False, wrap_lines=True)
        with gr.Column(scale=1):
            status = gr.Markdown("", elem_id="gen-status")
            preview = gr.Image(label="denoising: predicted x0 at each step", format="png", interactive=False,
                               elem_id="preview", height=320)
            gallery = gr.Gallery(label="images (click one; its caption gives seed and settings)", format="png",
                                 columns=4, height=320, elem_id="gallery", buttons=["download", "download_all"],
                                 object_fit="contain")
            command = gr.Code(label="the same images from the command line", language="shell", lines=2,
                              elem_id="command", interactive=False, wrap_lines=True)
            files = gr.File(label="PNG files (each carries its command in its metadata)", file_count="multiple",
                            interactive=False, elem_id="png-files")

    def on_model(name):
        if not name:
            return (gr.update(value="No run found: train one in the Train tab, then press Refresh."),
                    gr.update(visible=False), gr.update(visible=False), gr.update(visible=False),
                    gr.update(visible=False), gr.update())
        model = page_errors(ctx.store.get, name)
        kinds = model.kinds
        what = {"class": "a class", "text": "a prompt", "features": "the 32 visual features",
                "mask": "an object mask"}
        note = (f"**{name}** ({model.channels}x{model.image_size}x{model.image_size}, checkpoint step "
                f"{model.denoiser.step}) is conditioned on " + ", ".join(what[k] for k in kinds)
                if kinds else f"**{name}** is unconditional ({model.channels}x{model.image_size}x{model.image_size}).")
        return (gr.update(value=note),
                gr.update(visible="class" in kinds, choices=model.class_names,
                          value=model.class_names[0] if model.class_names else None),
                gr.update(visible="text" in kinds, placeholder=(model.captions or ["a photo of ..."])[0]),
                gr.update(visible="features" in kinds), gr.update(visible="mask" in kinds),
                gr.update(**guidance_control(model.denoiser)))

    model_outputs = [cond_note, class_box, prompt_box, feature_group, mask_group, guidance]
    model_box.change(on_model, model_box, model_outputs, api_visibility="private")
    ctx.on_load.append((on_model, [model_box], model_outputs))

    def on_like(name, path):
        if not path:
            return [gr.update()] * (len(sliders) + 2)
        model = page_errors(ctx.store.get, name)
        values, mask = page_errors(like_values, model, path)
        mask_value = gr.update()
        use = gr.update()
        if mask is not None:
            big = Image.fromarray((mask * 255).astype(np.uint8), "L").resize((256, 256), Image.NEAREST)
            mask_value = {"background": np.asarray(big.convert("RGBA")), "layers": [], "composite": None}
            use = gr.update(value=True)
        return [gr.update(value=values[n]) for n in FEATURE_NAMES] + [mask_value, use]

    like.upload(on_like, [model_box, like], sliders + [mask_box, use_mask], api_visibility="private")

    def on_mode(mode):
        inpainting = mode == "inpaint"
        return gr.update(visible=inpainting), gr.update(value=STRENGTH_FULL if inpainting else STRENGTH_VARIATION)

    i2i_mode.change(on_mode, i2i_mode, [inpaint_group, strength], api_visibility="private")

    def on_init(path):
        """The upload becomes the inpainting canvas's background (enlarged), to draw the mask over it."""
        if not path:
            return gr.update(value=None)
        img = page_errors(read_image, path).convert("RGBA")
        scale = max(1, 256 // max(img.size))
        big = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        return gr.update(value={"background": np.asarray(big), "layers": [], "composite": None})

    init_image.upload(on_init, init_image, inpaint_draw, api_visibility="private")

    def settings_of(name, class_name, prompt, use_f, use_m, mask_value, sampler_name, n_steps, g, seed_value, n,
                    values, i2i=None):
        """The page's controls as Settings (i2i: mode, init, strength, invert, drawing, file, resample, jump,
        feather, source)."""
        if not name:
            raise gr.Error("choose a model first (none was found: train one in the Train tab)",
                           print_exception=False)
        model = page_errors(ctx.store.get, name)
        feats = dict(zip(FEATURE_NAMES, map(float, values))) if use_f and "features" in model.kinds else None
        mask = None
        if use_m and "mask" in model.kinds:
            layers = ([mask_value.get("composite"), mask_value.get("background")] if isinstance(mask_value, dict)
                      else [mask_value])
            for layer in layers:  # the drawing, else the uploaded or "like" background
                mask = page_errors(mask_from_image, layer, model.image_size)
                if mask is not None:
                    break
            if mask is None:
                raise gr.Error("the object mask is empty: draw the object in white (or upload a mask), or untick "
                               "'condition on this object mask'", print_exception=False)
        s = Settings(name, sampler_name, n_steps, g, seed_value if seed_value is not None else 0, n,
                     class_name if "class" in model.kinds else None,
                     prompt if "text" in model.kinds else "", feats, mask)
        mode, init, s_strength, s_invert, drawn, mask_file, s_resample, s_jump, s_feather, source = \
            i2i or ["off"] + [None] * 9
        if mode in ("variation / edit", "inpaint"):
            if not init:
                raise gr.Error(f"{mode}: upload an init image first (or set image-to-image to off)",
                               print_exception=False)
            s.init, s.strength, s.invert, s.source = init, s_strength, bool(s_invert), source or ""
        if mode == "inpaint":
            s.inpaint = page_errors(inpaint_region, drawn, mask_file)
            s.resample, s.jump_length, s.feather = s_resample, s_jump, s_feather
        return s

    def on_generate(name, class_name, prompt, use_f, use_m, mask_value, sampler_name, n_steps, g, seed_value,
                    n, mode, init, s_strength, s_invert, drawn, mask_file, s_resample, s_jump, s_feather, source,
                    *values):
        s = settings_of(name, class_name, prompt, use_f, use_m, mask_value, sampler_name, n_steps, g, seed_value,
                        n, values, [mode, init, s_strength, s_invert, drawn, mask_file, s_resample, s_jump, s_feather,
                                    source])
        yield from stream(run(ctx.store, s, timeout=ctx.timeout, out_root=ctx.tmp),
                           lambda u: (u.status, u.preview, u.files, u.command, [p for p, _ in u.files] + [u.grid_path]),
                           lambda u: (u.status, u.preview if u.preview is not None else gr.update(), gr.update(),
                                      gr.update(), gr.update()))

    controls = [model_box, class_box, prompt_box, use_features, use_mask, mask_box, sampler, steps, guidance, seed,
                count]
    event = go.click(on_generate, controls + [i2i_mode, init_image, strength, invert, inpaint_draw, inpaint_file,
                                              resample, jump_length, feather, source_box] + sliders,
                     [status, preview, gallery, command, files], api_name="generate",
                     concurrency_limit=ctx.concurrency, concurrency_id="generate")

    def on_interpolate(name, class_name, prompt, use_f, use_m, mask_value, sampler_name, n_steps, g, seed_value, n,
                       to_seed, n_frames, *values):
        s = settings_of(name, class_name, prompt, use_f, use_m, mask_value, sampler_name, n_steps, g, seed_value, n,
                        values)
        yield from stream(interpolate_run(ctx.store, s, n_frames, to_seed if to_seed is not None else 0,
                                           timeout=ctx.timeout, out_root=ctx.tmp),
                           lambda u: (u.status, u.preview, u.files[1][0], u.command),
                           lambda u: (u.status, gr.update(), gr.update(), gr.update()))

    interp_event = interp_go.click(on_interpolate, controls + [seed_to, frames] + sliders,
                                   [status, interp_strip, interp_gif, interp_command], api_name="interpolate_page",
                                   concurrency_limit=ctx.concurrency, concurrency_id="generate")
    stop.click(None, None, None, cancels=[event, interp_event], api_visibility="private")

    generate_api.register(ctx)
