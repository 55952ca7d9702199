"""What every tab of the page shares, below the tabs and :mod:`.app` (which imports the tabs).

:func:`page_errors` turns a :class:`fromnoise.errors.UserError` into the page's one-line error, :func:`stream`
and :func:`last` run a generator of updates (a generation) for the page and for the API, :func:`display`
enlarges a grid of images with square pixels.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import UserError
from ..viz import grid, to_pil


def page_errors(fn, *args, **kwargs):
    """Call ``fn``; a UserError becomes a ``gr.Error`` with its sentence (shown on the page, no traceback)."""
    import gradio as gr  # slow to import: only when a page runs

    try:
        return fn(*args, **kwargs)
    except UserError as err:
        raise gr.Error(str(err), print_exception=False) from None


def display(images: torch.Tensor, nrow: int | None = None, width: int = 384) -> np.ndarray:
    """A grid of (N, C, H, W) images in [0, 1] as uint8 RGB, enlarged with square pixels to about ``width``."""
    pil = to_pil(grid(images, nrow=nrow)).convert("RGB")
    scale = max(1, width // pil.width)
    return np.asarray(pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST))


def last(updates: Iterator):
    """Run a generation to its end (the API endpoint and the tests)."""
    out = None
    for update in updates:  # the last one
        out = update
    return out


def stream(updates: Iterator, final, partial):
    """The page's outputs for each update of a run: ``final(u)`` for the last one, ``partial(u)`` before it;
    a run's error becomes the page's one-line error (:func:`page_errors`)."""
    while True:
        try:
            u = page_errors(next, updates)
        except StopIteration:
            return
        yield final(u) if u.done else partial(u)


def png_base64(path: str) -> str:
    """A file's bytes in base64 (the API's images)."""
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")
