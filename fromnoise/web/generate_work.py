"""The Generate tab's work, shared by its callbacks and the ``/sample`` API endpoint (no gradio here).

:func:`check` (limits, one clear sentence per bad value), :func:`request_of` (the same request
dict ``fromnoise sample`` builds from its options, for
``fromnoise.conditioning.request.build_condition``), :func:`command_line` (the equivalent
``fromnoise sample`` command) and :func:`run` (``fromnoise.generate`` in a worker thread, its
per-step callback feeding x0 previews, under the model's lock and a timeout).

Image-to-image (SDEdit variations and edits, DDIM inversion, RePaint inpainting; arxiv 2108.01073,
2010.02502, 2201.09865) goes through the CLI's own translation,
:class:`fromnoise.sampling.img2img_request.EditRequest`: the page saves the upload (and the drawn
or uploaded mask) as PNG files, builds the request the CLI builds from ``--init/--inpaint/--mask``,
and shows its flags in the command line; :func:`interpolate_run` is ``--interpolate`` between two seeds.
"""


from __future__ import annotations

import base64
import io
import shlex
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .. import generate
from ..conditioning.request import build_condition
from ..errors import UserError
from ..features import FEATURE_DOCS, FEATURE_NAMES
from ..image_files import read_image
from ..sampling import DEFAULT_SAMPLER, SAMPLERS
from ..sampling.img2img import DETERMINISTIC, Img2ImgWarning
from ..sampling.img2img_request import EditRequest, interpolation
from ..viz import grid, save_gif, to_pil

MAX_STEPS = 1000
MAX_IMAGES = 64
MAX_GUIDANCE = 50.0
MASK_FILE = "mask.png"
INIT_FILE = "init.png"
INPAINT_MASK_FILE = "inpaint_mask.png"
MAX_FRAMES = 64


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
    # image-to-image (fromnoise sample --init / --inpaint --mask / --strength / --invert / --resample ...)
    init: str | None = None                   # the input image, a file on the server; None: from noise
    inpaint: np.ndarray | None = None         # (H, W) bool, white = regenerate (any size: fitted to the init's)
    strength: float | None = None             # None: generate()'s default (0.6 variation, 1 inpaint/invert)
    invert: bool = False
    resample: int = 1
    jump_length: int = 10
    feather: float = 1.0
    source: str = ""                          # the upload's own class or prompt (--from-class / --from-prompt)


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
    if s.strength is not None:
        try:
            s.strength = float(s.strength)
        except (TypeError, ValueError):
            raise UserError(f"strength must be a number, got {s.strength!r}") from None
        if not 0 < s.strength <= 1:
            raise UserError(f"strength must be in (0, 1] (how far the upload is noised; 1 = from pure noise), "
                            f"got {s.strength:g}")
    s.resample = _integer(s.resample, "the resample count")
    if not 1 <= s.resample <= 100:
        raise UserError(f"the resample count must be between 1 and 100, got {s.resample}")
    s.jump_length = _integer(s.jump_length, "the jump length")
    if not 1 <= s.jump_length <= 1000:
        raise UserError(f"the jump length must be between 1 and 1000, got {s.jump_length}")
    try:
        s.feather = float(s.feather)
    except (TypeError, ValueError):
        raise UserError(f"feather must be a number of pixels, got {s.feather!r}") from None
    if not 0 <= s.feather <= 64:
        raise UserError(f"feather must be between 0 and 64 pixels, got {s.feather:g}")
    if s.init is None and (s.inpaint is not None or s.strength is not None or s.invert):
        raise UserError("strength, inversion and inpainting need an input image: upload one under image-to-image")
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
                 n: int | None = None, edit: EditRequest | None = None, interpolate: tuple[int, int] | None = None
                 ) -> str:
    """The ``fromnoise sample`` command that makes the same images (image i has seed + i).

    ``edit``: the image-to-image request, whose flags (with its --mask) replace ``mask_path``;
    ``interpolate``: (frames, seed_to) for ``--interpolate`` between ``s.seed`` and seed_to.
    """
    args = ["fromnoise", "sample", str(run_dir)]
    if interpolate:
        args += ["--interpolate", str(interpolate[0])]
    else:
        args += ["-n", str(s.n if n is None else n)]
    args += ["--sampler", s.sampler, "--steps", str(s.steps), "--seed", str(s.seed if seed is None else seed)]
    if interpolate:
        args += ["--seed-to", str(interpolate[1])]
    if s.guidance != 1.0:
        args += ["--guidance", f"{s.guidance:g}"]
    if s.class_name:
        args += ["--class", s.class_name]
    if s.prompt and s.prompt.strip():
        args += ["--prompt", s.prompt]
    for item in feature_overrides(s.features):
        args += ["--set", item]
    if edit is not None:
        args += edit.flags()
    elif mask_path:
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


def inpaint_region(drawn, upload: str | None = None) -> np.ndarray:
    """The inpainting region (H, W) bool, white = regenerate: the uploaded mask file when there is one (its alpha
    channel when it has one, else its grey levels, as ``fromnoise sample --mask`` reads it), else the strokes
    drawn on the editor's layers (the background, the upload itself, does not count)."""
    from ..sampling.img2img_request import read_mask

    if upload:
        region = read_mask(upload).numpy() >= 0.5
        if not region.any():
            raise UserError("the uploaded inpainting mask is all black; white marks the region to regenerate")
        return region
    layers = (drawn.get("layers") or []) if isinstance(drawn, dict) else ([] if drawn is None else [drawn])
    region = None
    for layer in layers:
        arr = np.asarray(layer)
        if arr.ndim != 3 or arr.shape[-1] != 4:
            continue
        strokes = (arr[..., :3].astype(np.float32).mean(-1) * (arr[..., 3] / 255.0)) > 127
        region = strokes if region is None else region | strokes
    if region is None or not region.any():
        raise UserError("the inpainting mask is empty: draw white over the upload where to regenerate, or upload "
                        "a mask (white = regenerate)")
    return region


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


def _save_inputs(model, s: Settings, out_dir: Path) -> tuple[str | None, EditRequest]:
    """Write the request's images as the files ``fromnoise sample`` would be given; returns the object-mask
    path (or None) and the image-to-image request over those files (the CLI's own translation)."""
    mask_path = None
    if s.mask is not None:
        if "mask" not in model.kinds:
            raise UserError("this model is not conditioned on an object mask; clear the mask, or use a model "
                            "trained with --condition features --mask")
        mask_path = str(out_dir / MASK_FILE)
        Image.fromarray((np.asarray(s.mask, bool) * 255).astype(np.uint8), "L").save(mask_path)
    if s.init is None:
        return mask_path, EditRequest(mask=mask_path)
    if s.inpaint is not None and mask_path:
        raise UserError("inpainting and an object mask cannot be combined here (on the command line --mask is "
                        "then the region to regenerate); untick 'condition on this object mask'")
    init_path = str(out_dir / INIT_FILE)
    upload = read_image(s.init)  # EXIF-rotated, 8 bits per channel: the PNG keeps every pixel
    upload.save(init_path)
    if s.inpaint is None:
        source = (s.source or "").strip() or None
        return None, EditRequest(init=init_path, strength=s.strength, invert=s.invert,
                                 from_class=source if "class" in model.kinds else None,
                                 from_prompt=source if "text" in model.kinds and "class" not in model.kinds else None)
    region = np.asarray(s.inpaint, bool)
    if region.shape != (upload.height, upload.width):  # a drawing on the enlarged canvas: back to the image's size
        region = np.asarray(Image.fromarray(region.astype(np.uint8) * 255, "L").resize(upload.size, Image.NEAREST)) > 127
    if not region.any():
        raise UserError("the inpainting mask is empty: draw (or upload) white where to regenerate")
    inpaint_path = str(out_dir / INPAINT_MASK_FILE)
    Image.fromarray(region.astype(np.uint8) * 255, "L").save(inpaint_path)
    return None, EditRequest(inpaint=init_path, mask=inpaint_path, strength=s.strength, invert=s.invert,
                             resample=s.resample, jump_length=s.jump_length, feather=s.feather)


def _notes(caught) -> str:
    """The image-to-image adaptations (resized, converted, thresholded) as one line for the status."""
    said = [str(w.message) for w in caught if issubclass(w.category, Img2ImgWarning)]
    return (" · note: " + "; ".join(dict.fromkeys(said))) if said else ""


def _guarded(model, s: Settings, timeout: float, preview_every: float, work, what: str, nrow: int | None = None):
    """Run ``work(callback)`` in a worker thread under the model's lock: yields waiting lines and x0 previews,
    returns the images (``images = yield from _guarded(...)``). Past ``timeout`` the sampler is stopped."""
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

        def target():
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", Img2ImgWarning)
                    result["images"] = work(callback)
                result["notes"] = _notes(caught)
            except BaseException as err:  # noqa: BLE001 - handed to the page's thread below
                result["error"] = err

        worker = threading.Thread(target=target, name="fromnoise-generate", daemon=True)
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
                    yield Update(f"step {i + 1}{what}: the predicted clean images x0", preview=display(x0, nrow=nrow))
        finally:  # the page went away or failed: stop the sampler before giving the lock back
            cancel.set()
            worker.join()
    finally:
        model.lock.release()
    if "error" in result:
        err = result["error"]
        raise err if isinstance(err, UserError) else UserError(f"the generation failed: {err}")
    return result["images"], result["notes"], time.monotonic() - start


def run(store, s: Settings, *, timeout: float = 120.0, out_root: str | Path | None = None,
        preview_every: float = 0.2) -> Iterator[Update]:
    """Generate for the page: yields status/previews while it waits and runs, then the results.

    One generation at a time per model (its lock; later requests wait their turn), at most
    ``timeout`` seconds of waiting plus generating, after which the run is stopped (the sampler's
    callback raises) and a UserError says so. With ``s.init`` the generation is image-to-image,
    with the keywords the CLI's :class:`EditRequest` gives for the files the page saved.
    """
    s = check(s)
    model = store.get(s.model)
    out_dir = Path(tempfile.mkdtemp(prefix="gen-", dir=out_root))
    mask_path, edit = _save_inputs(model, s, out_dir)
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
    command = command_line(s, model.path, edit=edit)
    with warnings.catch_warnings(record=True) as caught:  # the CLI's reading and checks of its files
        warnings.simplefilter("always", Img2ImgWarning)
        kwargs = edit.generate_kwargs(model.denoiser)
    kwargs.update(edit.condition_kwargs(model.denoiser, total, condition, s.guidance))
    read_notes = _notes(caught)

    def work(callback):
        return generate(model.denoiser, total, sampler=s.sampler, steps=s.steps, seed=s.seed, guidance=s.guidance,
                        condition=condition, callback=callback, **kwargs)

    images, notes, took = yield from _guarded(model, s, timeout, preview_every, work,
                                              "" if edit.image else f" of {s.steps}", s.n if labels else None)
    files = []
    for j, img in enumerate(images):
        row = labels[j // s.n] if labels else ""
        seed = s.seed + j
        one = command_line(s, model.path, seed=seed, n=1, edit=edit) if not labels or len(labels) == 1 else command
        caption = f"seed {seed}" + (f" · {row}" if row else "") + \
            f" · {s.sampler} {s.steps} steps" + (f" · guidance {s.guidance:g}" if s.guidance != 1 else "") + \
            (f" · {'inpainted' if edit.inpaint else 'from the upload'}" if edit.image else "")
        path = _save_png(img, out_dir / f"seed_{seed}.png", {"fromnoise": one, "Description": caption})
        files.append((str(path), caption))
    grid_path = _save_png(grid(images, nrow=s.n if labels else None), out_dir / "grid.png",
                          {"fromnoise": command})
    yield Update(f"{total} image{'s' if total > 1 else ''} in {took:.1f} s ({s.sampler}, {s.steps} steps, seeds "
                 f"{s.seed}..{s.seed + total - 1}){read_notes}{notes}",
                 preview=display(images, nrow=s.n if labels else None), done=True, files=files,
                 grid_path=str(grid_path), command=command, images=images)


def interpolate_run(store, s: Settings, frames: int, seed_to: int, *, timeout: float = 120.0,
                    out_root: str | Path | None = None, preview_every: float = 0.2) -> Iterator[Update]:
    """``fromnoise sample --interpolate FRAMES --seed S --seed-to T`` for the page: ``frames`` images between two
    seeds (slerp of the noise, :func:`fromnoise.sampling.img2img.interpolate`) under the page's condition, as a
    strip PNG and a GIF (the last Update's ``files``: [(strip, caption), (gif, caption)])."""
    s = check(s)
    frames = _integer(frames, "the number of frames")
    if not 2 <= frames <= MAX_FRAMES:
        raise UserError(f"the number of frames must be between 2 and {MAX_FRAMES}, got {frames}")
    seed_to = _integer(seed_to, "the other seed")
    if not 0 <= seed_to < 2**63:
        raise UserError(f"the other seed must be a whole number from 0 to 2^63, got {seed_to}")
    if s.init is not None:
        raise UserError("an interpolation starts from noise; switch image-to-image off to interpolate")
    model = store.get(s.model)
    out_dir = Path(tempfile.mkdtemp(prefix="lerp-", dir=out_root))
    mask_path, _ = _save_inputs(model, s, out_dir)
    if s.features is not None and "features" not in model.kinds:
        raise UserError("this model is not conditioned on the visual features; its controls are above")
    request = request_of(s, mask_path)
    command = command_line(s, model.path, mask_path, interpolate=(frames, seed_to))

    def work(callback):
        images, _, _ = interpolation(model.denoiser, request, frames, s.seed, seed_to, sampler=s.sampler,
                                     steps=s.steps, guidance=s.guidance, callback=callback)
        return images

    images, notes, took = yield from _guarded(model, s, timeout, preview_every, work, f" of {s.steps}", frames)
    if s.sampler not in DETERMINISTIC:
        notes += (f" · note: {s.sampler} draws fresh noise at every step, differently for every frame, so the "
                  f"frames flicker; ddim or dpmpp_2m give a smooth interpolation")
    strip = _save_png(grid(images, nrow=frames), out_dir / "interpolation.png", {"fromnoise": command})
    gif = save_gif(list(images), out_dir / "interpolation.gif", duration_ms=120, hold_last_ms=600)
    caption = f"seed {s.seed} -> seed {seed_to}, {frames} frames · {s.sampler} {s.steps} steps"
    yield Update(f"{frames} frames in {took:.1f} s (seed {s.seed} -> {seed_to}){notes}", preview=display(images, nrow=frames),
                 done=True, files=[(str(strip), caption), (str(gif), caption)], grid_path=str(strip),
                 command=command, images=images)


def last(updates: Iterator[Update]) -> Update:
    """Run a generation to its end (the API endpoint and the tests)."""
    out = None
    for out in updates:
        pass
    return out


def stream(updates: Iterator[Update], final, partial):
    """The page's outputs for each update of a run: ``final(u)`` for the last one, ``partial(u)`` before it;
    a run's error becomes the page's one-line error (``app.page_errors``)."""
    from .app import page_errors

    while True:
        try:
            u = page_errors(next, updates)
        except StopIteration:
            return
        yield final(u) if u.done else partial(u)


def png_base64(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def decode_png(data: str, what: str = "mask") -> np.ndarray:
    """A base64 PNG (the API's mask) as an array; UserError when it is not one."""
    try:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            return np.asarray(img.convert("RGBA"))
    except (ValueError, OSError) as err:
        raise UserError(f"the {what} is not a base64-encoded PNG ({err})") from None


def save_upload(data: str, folder: str | Path, what: str) -> str:
    """A base64 image (the API's init image or inpainting mask) written as a file in ``folder``; its path.
    The file is then read like any upload (:func:`fromnoise.image_files.read_image`)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as err:
        raise UserError(f"the {what} is not base64-encoded ({err}); send a base64 PNG") from None
    path = Path(tempfile.mkdtemp(prefix="upload-", dir=folder or None)) / "upload.png"
    path.write_bytes(raw)
    read_image(path)  # refuses what is not an image, naming it
    return str(path)
