"""Pictures: image grids, per-image PNGs, denoising frames as a grid and as an animated GIF.

All writers take images as float tensors in [0, 1], (N, C, H, W), and write atomically.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from ..io import atomic_write


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) float in [0, 1] -> PIL image (L, RGB or RGBA)."""
    arr = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0].numpy(), "L")
    return Image.fromarray(arr.permute(1, 2, 0).numpy(), "RGBA" if arr.shape[0] == 4 else "RGB")


def save_image(image: torch.Tensor, path: str | Path, scale: int = 1) -> Path:
    """Write one (C, H, W) image, enlarged ``scale`` times with nearest-neighbour pixels."""
    img = to_pil(image)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return atomic_write(path, img.save)


def grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """Tile (N, C, H, W) images into one (C, H', W') image, ``nrow`` per row (default: square)."""
    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    return make_grid(images.float(), nrow=nrow, padding=padding, pad_value=1.0)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int | None = None) -> Path:
    """Write a grid PNG; small images are enlarged so a 28x28 grid is comfortable to look at."""
    side = images.shape[-1]
    scale = scale or max(1, 96 // side) if side < 96 else (scale or 1)
    return save_image(grid(images, nrow), path, scale=scale)


def save_images(images: torch.Tensor, folder: str | Path, prefix: str = "sample", start: int = 0) -> list[Path]:
    """One PNG per image: ``folder/prefix_00000.png``..."""
    return [save_image(img, Path(folder) / f"{prefix}_{start + i:05d}.png") for i, img in enumerate(images)]


def save_gif(frames: list[torch.Tensor], path: str | Path, duration_ms: int = 80, hold_last_ms: int = 1500,
             scale: int | None = None) -> Path:
    """Animated GIF from a list of (C, H, W) frames in [0, 1]; the last frame is held."""
    side = frames[0].shape[-1]
    scale = scale or max(1, 192 // side)
    pil = [to_pil(f) for f in frames]
    if scale > 1:
        pil = [p.resize((p.width * scale, p.height * scale), Image.NEAREST) for p in pil]
    pil = [p.convert("RGB") if p.mode != "L" else p for p in pil]
    durations = [duration_ms] * (len(pil) - 1) + [hold_last_ms]
    return atomic_write(path, lambda tmp: pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:],
                                                      duration=durations, loop=0))


def save_frames(frames: list[torch.Tensor], png: str | Path | None = None, gif: str | Path | None = None,
                per_row: int = 4) -> tuple[Path | None, Path | None]:
    """Denoising frames, a list of F batches (n, C, H, W) in [0, 1], as the one frame grid (a PNG with a row
    per image and a column per frame) and as an animated GIF (each frame a grid, ``per_row`` images a row)."""
    png_path = gif_path = None
    if png is not None:
        stack = torch.stack(frames)  # (F, n, C, H, W) -> rows: images, columns: frames
        png_path = save_grid(stack.transpose(0, 1).reshape(-1, *stack.shape[2:]), png, nrow=len(frames))
    if gif is not None:
        gif_path = save_gif([grid(f, nrow=min(per_row, f.shape[0])) for f in frames], gif)
    return png_path, gif_path
