"""Render the Noto Color Emoji glyphs into a folder of small RGBA PNGs (a colourful dev set).

Debian/Ubuntu package ``fonts-noto-color-emoji`` ships the font; Pillow renders its colour
bitmaps (CBDT) only at their native size 109 with ``embedded_color=True``. Each glyph is
cropped to its alpha bounding box, centred on a transparent square, and resized.

    python bench/emoji_dataset.py OUT_DIR [--size 64] [--limit 500]

or ``from bench.emoji_dataset import make_emoji_folder``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository root

from bench.clipart_dataset import centred_square  # noqa: E402

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
NATIVE_SIZE = 109  # the only size at which the font's colour bitmaps exist


def emoji_codepoints(font_path: Path = FONT_PATH) -> list[int]:
    """Codepoints the font maps to a glyph (fontTools cmap), emoji ranges only.

    Without fontTools, falls back to scanning the emoji blocks and keeping what renders.
    """
    try:
        from fontTools.ttLib import TTFont

        with TTFont(str(font_path), lazy=True) as font:
            cmap = font.getBestCmap() or {}
        points = sorted(cmap)
    except ImportError:
        points = list(range(0x2100, 0x2BFF)) + list(range(0x1F000, 0x1FAFF))
    # ASCII digits, '#', '*', space and joiners render as plain or empty glyphs on their own.
    return [cp for cp in points if cp >= 0xA9 and cp not in (0x200D, 0x20E3, 0xFE0F)]


def render_glyph(font: ImageFont.FreeTypeFont, codepoint: int, size: int) -> Image.Image | None:
    """One emoji as an RGBA ``size`` x ``size`` image, or None if it renders empty."""
    text = chr(codepoint)
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((10, 10), text, font=font, embedded_color=True)
    small = centred_square(canvas, size)
    if small is None:
        return None
    alpha = np.asarray(small.getchannel("A"))
    if (alpha > 127).sum() < 4:  # too small to be an object at this size
        return None
    rgb = np.asarray(small)[..., :3]
    if rgb[alpha > 127].std() < 1e-3 and (alpha > 127).mean() > 0.9:  # a flat box: a missing glyph
        return None
    return small


def make_emoji_folder(out_dir: str | os.PathLike, size: int = 64, limit: int | None = None,
                      font_path: str | os.PathLike = FONT_PATH) -> list[Path]:
    """Write ``emoji_<codepoint>.png`` RGBA files into out_dir; return their paths.

    Args:
        out_dir: folder to create/fill.
        size: side in pixels (32 or 64 are the intended sizes; any >= 8 works).
        limit: stop after this many images (None: all, about 1,400 single codepoints).
        font_path: the Noto Color Emoji font.
    """
    font_path = Path(font_path)
    if not font_path.is_file():
        raise FileNotFoundError(f"{font_path} not found: install the Debian package fonts-noto-color-emoji")
    font = ImageFont.truetype(str(font_path), NATIVE_SIZE)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for cp in emoji_codepoints(font_path):
        if limit is not None and len(written) >= limit:
            break
        try:
            img = render_glyph(font, cp, size)
        except (OSError, ValueError):  # glyphs FreeType cannot rasterise
            continue
        if img is None:
            continue
        path = out / f"emoji_{cp:05x}.png"
        fd, tmp = tempfile.mkstemp(suffix=".png", dir=out)
        os.close(fd)
        img.save(tmp)
        os.replace(tmp, path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder to write the PNGs into")
    parser.add_argument("--size", type=int, default=64, help="side in pixels (default 64)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images")
    args = parser.parse_args(argv)
    paths = make_emoji_folder(args.out_dir, args.size, args.limit)
    print(f"wrote {len(paths)} emoji PNGs ({args.size}x{args.size}) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
