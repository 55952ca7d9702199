"""The Generate tab: the controls follow the model's conditioning; the denoising streams in.

The work is done by the functions of the first half, which the tab's callbacks and the
``/sample`` API endpoint share: :func:`check` (limits, one clear sentence per bad value),
:func:`request_of` (the same request dict ``fromnoise sample`` builds from its options, for
``fromnoise.conditioning.request.build_condition``), :func:`command_line` (the equivalent
``fromnoise sample`` command) and :func:`run` (``fromnoise.generate`` in a worker thread,
its per-step callback feeding x0 previews, under the model's lock and a timeout).
"""

from __future__ import annotations

import base64
import io
import shlex
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .. import generate
from ..conditioning.request import build_condition
from ..errors import UserError
from ..features import FEATURE_DOCS, FEATURE_NAMES, GROUPS
from ..sampling import DEFAULT_SAMPLER, SAMPLERS
from ..viz import grid, to_pil

MAX_STEPS = 1000
MAX_IMAGES = 64
MAX_GUIDANCE = 50.0
MASK_FILE = "mask.png"


def explanation(name: str) -> str:
    """One line about a feature: its documented definition up to the first ';' (names.py)."""
    return FEATURE_DOCS[name].formula.split("; ")[0]


# ------------------------------------------------------------------------------ settings
@dataclass
class Settings:
    """One generation request, as the page (or the API) states it."""

    model: str
    sampler: str = DEFAULT_SAMPLER
    steps: int = 20
    guidance: float = 1.0
    seed: int = 0
    n: int = 4
    class_name: str | None = None
    prompt: str = ""
    features: dict[str, float] | None = None  # name -> value in [0, 1]; None: no feature condition
    mask: np.ndarray | None = None            # (size, size) bool object mask; None: no mask


def _integer(value, what: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a whole number, got {value!r}") from None
    if not np.isfinite(number) or number != int(number):
        raise UserError(f"{what} must be a whole number, got {value!r}")
    return int(number)


def check(s: Settings) -> Settings:
    """Settings with numbers coerced, or a UserError naming the control and its allowed range."""
    if s.sampler not in SAMPLERS:
        raise UserError(f"unknown sampler {s.sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    s.steps = _integer(s.steps, "steps")
    if not 1 <= s.steps <= MAX_STEPS:
        raise UserError(f"steps must be between 1 and {MAX_STEPS}, got {s.steps}; use fewer sampler steps")
    s.n = _integer(s.n, "the number of images")
    if not 1 <= s.n <= MAX_IMAGES:
        raise UserError(f"the number of images must be between 1 and {MAX_IMAGES} per request, got {s.n}")
    s.seed = _integer(s.seed, "the seed")
    if not 0 <= s.seed < 2**63 - MAX_IMAGES:
        raise UserError(f"the seed must be a whole number from 0 to 2^63, got {s.seed}")
    try:
        s.guidance = float(s.guidance)
    except (TypeError, ValueError):
        raise UserError(f"guidance must be a number, got {s.guidance!r}") from None
    if not 0 <= s.guidance <= MAX_GUIDANCE:
        raise UserError(f"guidance must be between 0 and {MAX_GUIDANCE:g}, got {s.guidance:g}")
    if s.features is not None:
        for name, value in s.features.items():
            if name not in FEATURE_DOCS:
                raise UserError(f"unknown feature {name!r}; the 32 features are listed in the Visual features panel")
            if not isinstance(value, (int, float)) or not 0 <= float(value) <= 1:
                raise UserError(f"the feature {name} must be a number in [0, 1], got {value!r}")
    return s


def feature_overrides(features: dict[str, float] | None) -> list[str]:
    """``--set NAME=VALUE`` items that give exactly this feature vector.

    Features not given take 0.5, as ``fromnoise sample --set`` leaves them, so only the values
    that differ are written; all at 0.5 is written as one explicit ``NAME=0.5``.
    """
    if features is None:
        return []
    items = [f"{k}={float(v):g}" for k, v in features.items() if float(v) != 0.5]
    return items or [f"{FEATURE_NAMES[0]}=0.5"]


def request_of(s: Settings, mask_path: str | None) -> dict:
    """The request dict that ``fromnoise sample`` builds from its options (see cli/sample.py)."""
    return {"classes": [s.class_name] if s.class_name else [],
            "prompts": [s.prompt] if s.prompt and s.prompt.strip() else [],
            "features": None, "like": None, "set": feature_overrides(s.features), "mask": mask_path}


def command_line(s: Settings, run_dir: str | Path, mask_path: str | None = None, *, seed: int | None = None,
                 n: int | None = None) -> str:
    """The ``fromnoise sample`` command that makes the same images (image i has seed + i)."""
    args = ["fromnoise", "sample", str(run_dir), "-n", str(s.n if n is None else n), "--sampler", s.sampler,
            "--steps", str(s.steps), "--seed", str(s.seed if seed is None else seed)]
    if s.guidance != 1.0:
        args += ["--guidance", f"{s.guidance:g}"]
    if s.class_name:
        args += ["--class", s.class_name]
    if s.prompt and s.prompt.strip():
        args += ["--prompt", s.prompt]
    for item in feature_overrides(s.features):
        args += ["--set", item]
    if mask_path:
        args += ["--mask", str(mask_path)]
    return shlex.join(args)


def mask_from_image(image: np.ndarray | None, size: int) -> np.ndarray | None:
    """A drawn or uploaded mask (H, W[, C]) as (size, size) bool, white = object; None when blank.

    Transparent pixels count as background, so strokes on an empty canvas are the object.
    """
    if image is None:
        return None
    arr = np.asarray(image)
    if arr.ndim == 3:
        grey = arr[..., :3].astype(np.float32).mean(-1) if arr.shape[-1] >= 3 else arr[..., 0].astype(np.float32)
        if arr.shape[-1] in (2, 4):
            grey = grey * (arr[..., -1].astype(np.float32) / 255.0)
    else:
        grey = arr.astype(np.float32)
    if grey.max() <= 0:
        return None
    small = Image.fromarray(grey.clip(0, 255).astype(np.uint8), "L").resize((size, size), Image.BILINEAR)
    mask = np.asarray(small) > 127
    return mask if mask.any() else None


def like_values(model, path: str) -> tuple[dict[str, float] | None, np.ndarray | None]:
    """The measured features (and object mask) of a reference image, through the request builder,
    exactly as ``fromnoise sample --like PATH`` measures them."""
    if "features" not in model.kinds:
        raise UserError("this model is not conditioned on the visual features; 'like this image' needs one "
                        "trained with --condition features")
    cond, _ = build_condition(model.denoiser, {"like": path}, 1)
    values = {name: round(float(v), 3) for name, v in zip(FEATURE_NAMES, cond["features"][0].tolist())}
    mask = cond["mask"][0, 0].numpy() > 0.5 if "mask" in cond else None
    return values, mask


# ---------------------------------------------------------------------------------- running
class _Cancelled(Exception):
    pass


@dataclass
class Update:
    """What :func:`run` yields: a status line, and a preview (while running) or the results (at the end)."""

    status: str
    preview: np.ndarray | None = None
    done: bool = False
    files: list[tuple[str, str]] = field(default_factory=list)  # (PNG path, caption)
    grid_path: str | None = None
    command: str = ""
    images: torch.Tensor | None = None


def display(images: torch.Tensor, nrow: int | None = None, width: int = 384) -> np.ndarray:
    """A grid of (N, C, H, W) images in [0, 1] as uint8 RGB, enlarged with square pixels to about ``width``."""
    pil = to_pil(grid(images, nrow=nrow)).convert("RGB")
    scale = max(1, width // pil.width)
    return np.asarray(pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST))


def _save_png(image: torch.Tensor, path: Path, text: dict[str, str]) -> Path:
    info = PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    to_pil(image).save(path, pnginfo=info)
    return path


def run(store, s: Settings, *, timeout: float = 120.0, out_root: str | Path | None = None,
        preview_every: float = 0.2) -> Iterator[Update]:
    """Generate for the page: yields status/previews while it waits and runs, then the results.

    One generation at a time per model (its lock; later requests wait their turn), at most
    ``timeout`` seconds of waiting plus generating, after which the run is stopped (the sampler's
    callback raises) and a UserError says so.
    """
    s = check(s)
    model = store.get(s.model)
    out_dir = Path(tempfile.mkdtemp(prefix="gen-", dir=out_root))
    mask_path = None
    if s.mask is not None:
        if "mask" not in model.kinds:
            raise UserError("this model is not conditioned on an object mask; clear the mask, or use a model "
                            "trained with --condition features --mask")
        mask_path = str(out_dir / MASK_FILE)
        Image.fromarray((np.asarray(s.mask, bool) * 255).astype(np.uint8), "L").save(mask_path)
    if s.features is not None and "features" not in model.kinds:
        raise UserError("this model is not conditioned on the visual features; its controls are above")
    condition, labels = build_condition(model.denoiser, request_of(s, mask_path), s.n)
    if s.guidance != 1.0 and condition is None:
        if not model.denoiser.conditional:
            raise UserError(f"guidance {s.guidance:g} needs a conditional model; this one is unconditional, "
                            "so set guidance to 1")
        raise UserError(f"guidance {s.guidance:g} needs a condition: choose a class, write a prompt or use the "
                        "feature sliders (or set guidance to 1)")
    total = s.n * max(1, len(labels))
    if total > MAX_IMAGES:
        raise UserError(f"{total} images is more than {MAX_IMAGES} per request; ask for fewer")
    command = command_line(s, model.path, mask_path)

    start = time.monotonic()
    while not model.lock.acquire(timeout=preview_every):
        waited = time.monotonic() - start
        if waited > timeout:
            raise UserError(f"the model '{s.model}' stayed busy with other generations for {timeout:.0f} s; "
                            "try again in a moment")
        yield Update(f"waiting for another generation on '{s.model}' to finish ({waited:.0f} s)")
    try:
        cancel, latest, result = threading.Event(), [None], {}

        def callback(d):
            if cancel.is_set():
                raise _Cancelled()
            if d["offset"] == 0:
                latest[0] = (d["i"], ((d["x0"].float().clamp(-1, 1) + 1) / 2).cpu())

        def work():
            try:
                result["images"] = generate(model.denoiser, total, sampler=s.sampler, steps=s.steps, seed=s.seed,
                                            guidance=s.guidance, condition=condition, callback=callback)
            except BaseException as err:  # handed to the page's thread below
                result["error"] = err

        worker = threading.Thread(target=work, name="fromnoise-generate", daemon=True)
        worker.start()
        shown = None
        try:
            while worker.is_alive():
                worker.join(preview_every)
                if time.monotonic() - start > timeout:
                    cancel.set()
                    worker.join()
                    raise UserError(f"the generation took longer than the page's limit of {timeout:.0f} s and was "
                                    "stopped; use fewer steps or fewer images")
                if latest[0] is not None and latest[0] is not shown:
                    shown = latest[0]
                    i, x0 = shown
                    yield Update(f"step {i + 1} of {s.steps}: the predicted clean images x0",
                                 preview=display(x0, nrow=s.n if labels else None))
        finally:  # the page went away or failed: stop the sampler before giving the lock back
            cancel.set()
            worker.join()
    finally:
        model.lock.release()
    if "error" in result:
        err = result["error"]
        raise err if isinstance(err, UserError) else UserError(f"the generation failed: {err}")
    images = result["images"]
    files = []
    for j, img in enumerate(images):
        row = labels[j // s.n] if labels else ""
        seed = s.seed + j
        one = command_line(s, model.path, mask_path, seed=seed, n=1) if not labels or len(labels) == 1 else command
        caption = f"seed {seed}" + (f" · {row}" if row else "") + \
            f" · {s.sampler} {s.steps} steps" + (f" · guidance {s.guidance:g}" if s.guidance != 1 else "")
        path = _save_png(img, out_dir / f"seed_{seed}.png", {"fromnoise": one, "Description": caption})
        files.append((str(path), caption))
    grid_path = _save_png(grid(images, nrow=s.n if labels else None), out_dir / "grid.png",
                          {"fromnoise": command})
    took = time.monotonic() - start
    yield Update(f"{total} image{'s' if total > 1 else ''} in {took:.1f} s ({s.sampler}, {s.steps} steps, seeds {s.seed}..{s.seed + total - 1})",
                 preview=display(images, nrow=s.n if labels else None), done=True, files=files,
                 grid_path=str(grid_path), command=command, images=images)


def last(updates: Iterator[Update]) -> Update:
    """Run a generation to its end (the API endpoint and the tests)."""
    out = None
    for out in updates:
        pass
    return out


def png_base64(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def decode_png(data: str) -> np.ndarray:
    """A base64 PNG (the API's mask) as an array; UserError when it is not one."""
    try:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            return np.asarray(img.convert("RGBA"))
    except (ValueError, OSError) as err:
        raise UserError(f"the mask is not a base64-encoded PNG ({err})") from None


# ------------------------------------------------------------------------------------- page
def build(ctx, model_box):
    """Lay out the Generate tab inside the current ``gr.Tab`` and wire its events."""
    import gradio as gr

    from .app import page_errors

    with gr.Row():
        with gr.Column(scale=1):
            cond_note = gr.Markdown("", elem_id="cond-note")
            class_box = gr.Dropdown(label="class", choices=[], visible=False, elem_id="class-box")
            prompt_box = gr.Textbox(label="prompt", visible=False, elem_id="prompt-box",
                                    placeholder="a photo of ...")
            with gr.Row():
                sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULT_SAMPLER, label="sampler", elem_id="sampler")
                steps = gr.Slider(1, MAX_STEPS, 20, step=1, label="steps", elem_id="steps")
            with gr.Row():
                guidance = gr.Slider(0, 10, 1.0, step=0.1, label="guidance (1 = plain conditional)",
                                     elem_id="guidance")
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
                    with gr.Accordion(group.upper(), open=group == "color", elem_id=f"group-{group}"):
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
                    gr.update(visible=False))
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
                gr.update(visible="features" in kinds), gr.update(visible="mask" in kinds))

    model_box.change(on_model, model_box, [cond_note, class_box, prompt_box, feature_group, mask_group],
                     api_visibility="private")
    ctx.on_load.append((on_model, [model_box], [cond_note, class_box, prompt_box, feature_group, mask_group]))

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

    def on_generate(name, class_name, prompt, use_f, use_m, mask_value, sampler_name, n_steps, g, seed_value,
                    n, *values):
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
        updates = run(ctx.store, s, timeout=ctx.timeout, out_root=ctx.tmp)
        while True:
            try:
                u = page_errors(next, updates)
            except StopIteration:
                return
            if u.done:
                yield (u.status, u.preview, u.files, u.command, [p for p, _ in u.files] + [u.grid_path])
            else:
                yield u.status, u.preview if u.preview is not None else gr.update(), gr.update(), gr.update(), \
                    gr.update()

    event = go.click(on_generate, [model_box, class_box, prompt_box, use_features, use_mask, mask_box, sampler,
                                   steps, guidance, seed, count] + sliders,
                     [status, preview, gallery, command, files], api_name="generate",
                     concurrency_limit=ctx.concurrency, concurrency_id="generate")
    stop.click(None, None, None, cancels=[event], api_visibility="private")

    def sample(model: str, n: int = 4, steps: int = 20, sampler: str = DEFAULT_SAMPLER, guidance: float = 1.0,
               seed: int = 0, class_name: str = "", prompt: str = "", features: dict | None = None,
               mask_png: str = "") -> dict:
        """Generate images; returns {"command", "images": [{"seed", "caption", "png"}]} (base64 PNGs).

        features: feature name -> value in [0, 1] (the rest stay at 0.5); mask_png: a base64
        PNG, white = object. The limits and messages are the page's.
        """
        m = page_errors(ctx.store.get, model)
        mask = page_errors(lambda: mask_from_image(decode_png(mask_png), m.image_size)) if mask_png else None
        s = Settings(model, sampler=sampler, steps=steps, guidance=guidance, seed=seed, n=n,
                     class_name=class_name or None, prompt=prompt, features=features, mask=mask)
        u = page_errors(last, run(ctx.store, s, timeout=ctx.timeout, out_root=ctx.tmp))
        return {"command": u.command, "status": u.status,
                "images": [{"seed": s.seed + j, "caption": c, "png": png_base64(p)}
                           for j, (p, c) in enumerate(u.files)]}

    gr.api(sample, api_name="sample", concurrency_limit=ctx.concurrency, concurrency_id="generate")
