"""The Generate tab's work, shared by its callbacks and the ``/sample`` API endpoint (no gradio here).

:func:`run` (``fromnoise.generate`` in a worker thread, its per-step callback feeding x0 previews, under the
model's lock and a timeout) and :func:`interpolate_run` (``--interpolate`` between two seeds). The request and
its checks are :mod:`.generate_settings`; the uploads, saved as the files the CLI would be given, are
:mod:`.uploads`.

Image-to-image (SDEdit variations and edits, DDIM inversion, RePaint inpainting; arxiv 2108.01073,
2010.02502, 2201.09865) goes through the CLI's own translation,
:class:`fromnoise.img2img_request.EditRequest`: the page saves the upload (and the drawn
or uploaded mask) as PNG files, builds the request the CLI builds from ``--init/--inpaint/--mask``,
and shows its flags in the command line.
"""

from __future__ import annotations

import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..conditioning.request import build_condition
from ..errors import UserError
from ..img2img_request import DETERMINISTIC
from ..sampling.generate import check_guidance, generate
from ..sampling.img2img import Img2ImgWarning
from ..sampling.img2img_files import condition_kwargs, edit_kwargs
from ..sampling.interpolation import interpolation
from ..viz import grid, save_gif
from .common import display
from .generate_settings import MAX_FRAMES, MAX_IMAGES, Settings, check, command_line, request_of, whole_number
from .uploads import save_inputs, save_png


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
    mask_path, edit = save_inputs(model, s, out_dir)
    if s.features is not None and "features" not in model.kinds:
        raise UserError("this model is not conditioned on the visual features; its controls are above")
    condition, labels = build_condition(model.denoiser, request_of(s, mask_path), s.n)
    check_guidance(model.denoiser, s.guidance, condition,
                   give="choose a class, write a prompt or use the feature sliders (or set guidance to 1)")
    total = s.n * max(1, len(labels))
    if total > MAX_IMAGES:
        raise UserError(f"{total} images is more than {MAX_IMAGES} per request; ask for fewer")
    command = command_line(s, model.path, edit=edit)
    with warnings.catch_warnings(record=True) as caught:  # the CLI's reading and checks of its files
        warnings.simplefilter("always", Img2ImgWarning)
        kwargs = edit_kwargs(edit, model.denoiser)
    kwargs.update(condition_kwargs(edit, model.denoiser, total, condition, s.guidance))
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
        path = save_png(img, out_dir / f"seed_{seed}.png", {"fromnoise": one, "Description": caption})
        files.append((str(path), caption))
    grid_path = save_png(grid(images, nrow=s.n if labels else None), out_dir / "grid.png",
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
    frames = whole_number(frames, "the number of frames")
    if not 2 <= frames <= MAX_FRAMES:
        raise UserError(f"the number of frames must be between 2 and {MAX_FRAMES}, got {frames}")
    seed_to = whole_number(seed_to, "the other seed")
    if not 0 <= seed_to < 2**63:
        raise UserError(f"the other seed must be a whole number from 0 to 2^63, got {seed_to}")
    if s.init is not None:
        raise UserError("an interpolation starts from noise; switch image-to-image off to interpolate")
    model = store.get(s.model)
    out_dir = Path(tempfile.mkdtemp(prefix="lerp-", dir=out_root))
    mask_path, _ = save_inputs(model, s, out_dir)
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
    strip = save_png(grid(images, nrow=frames), out_dir / "interpolation.png", {"fromnoise": command})
    gif = save_gif(list(images), out_dir / "interpolation.gif", duration_ms=120, hold_last_ms=600)
    caption = f"seed {s.seed} -> seed {seed_to}, {frames} frames · {s.sampler} {s.steps} steps"
    yield Update(f"{frames} frames in {took:.1f} s (seed {s.seed} -> {seed_to}){notes}",
                 preview=display(images, nrow=frames), done=True, files=[(str(strip), caption), (str(gif), caption)],
                 grid_path=str(strip), command=command, images=images)
