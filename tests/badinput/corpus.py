"""A corpus of bad (and merely unusual) input files, generated at test time in a temporary folder.

Nothing here is checked in as a binary: every file is written with PIL, numpy, zlib or plain
bytes when a test asks for it. Each :class:`Case` writes one entry into a folder; ``bad`` says
what a command must do with it:

* ``bad=True``: the file cannot be an image (corrupt, truncated, empty, a decompression bomb,
  a symlink loop, a FIFO that would block a reader, ...): a folder command must skip it and say
  "skipped N", a single-file option must stop with one ``Error:`` line;
* ``bad=False``: an unusual but real image (16-bit, CMYK, palette with transparency, 1x1,
  20000x20, EXIF-rotated, a non-UTF-8 file name, ...): it must be read, not skipped.

Running as root, ``chmod 000`` does not make a file unreadable; the unreadable entries here are
a FIFO (``open()`` would wait forever for a writer), a broken symlink and a symlink loop.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    """One corpus entry: ``make(folder)`` writes it and returns its path (str or bytes).

    ``may_skip``: commands that may skip this real image, with a stated reason, as if it were bad.
    """

    name: str
    make: Callable[[Path], os.PathLike | str | bytes]
    bad: bool
    may_skip: frozenset = frozenset()

    def bad_for(self, command: str) -> bool:
        """Whether ``command`` must (or, for ``may_skip``, may) skip or refuse this entry."""
        return self.bad or command in self.may_skip


# ------------------------------------------------------------------------------ image bytes
def png_bytes(size=(12, 12), mode="RGB", seed=0) -> bytes:
    """A small valid PNG with random pixels."""
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr.squeeze(-1) if channels == 1 else arr, mode).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(size=(12, 12), **save) -> bytes:
    """A small valid RGB JPEG."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        buf, "JPEG", **save)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` 1-bit pixels, with only a few rows of data.

    Pillow refuses to open it above 2 x ``Image.MAX_IMAGE_PIXELS`` (DecompressionBombError, which
    is neither OSError nor ValueError) and only warns between 1x and 2x.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    rows = zlib.compress(b"\x00" * ((width + 7) // 8 + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _save(path: Path, img: Image.Image, fmt: str | None = None, **kw) -> Path:
    img.save(path, fmt, **kw)
    return path


# -------------------------------------------------------------------------------- the cases
def _sixteen_bit(d: Path) -> Path:
    ramp = (np.arange(12 * 12, dtype=np.uint16).reshape(12, 12) * 400).astype(np.uint16)
    return _save(d / "sixteen_bit.png", Image.fromarray(ramp))  # mode I;16, a 16-bit PNG


def _cmyk(d: Path) -> Path:
    return _save(d / "cmyk.jpg", Image.new("CMYK", (12, 12), (0, 200, 200, 0)))


def _palette_transparent(d: Path) -> Path:
    img = Image.new("P", (12, 12), 1)
    img.putpalette([255, 255, 255, 200, 30, 30] + [0] * (256 * 3 - 6))
    img.paste(0, (0, 0, 4, 12))
    img.info["transparency"] = 0
    return _save(d / "palette.png", img, transparency=0)


def _exif_rotated(d: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    return _write(d / "rotated.jpg", jpeg_bytes((16, 8), exif=exif.tobytes()))


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "fifo.png")  # open() for reading blocks until a writer comes: a reader must not hang
    return d / "fifo.png"


def _loop(d: Path) -> Path:
    os.symlink("loop.png", d / "loop.png")  # a link to itself: ELOOP on open
    return d / "loop.png"


def _broken_link(d: Path) -> Path:
    os.symlink("does_not_exist.png", d / "broken_link.png")
    return d / "broken_link.png"


def _non_utf8(d: Path) -> bytes:
    path = os.fsencode(d) + b"/caf\xe9_latin1.png"  # Latin-1 e-acute: not valid UTF-8
    with open(path, "wb") as f:
        f.write(png_bytes(seed=5))
    return path


def _truncated(data: bytes, name: str):
    return lambda d: _write(d / name, data[: len(data) // 2])


def _corrupt(d: Path) -> Path:
    good = png_bytes(size=(16, 16), seed=3)
    broken = bytearray(good)
    broken[40:80] = bytes(reversed(broken[40:80]))  # scrambled IDAT: bad CRC and bad zlib data
    return _write(d / "corrupt.png", bytes(broken))


IMAGE_CASES: list[Case] = [
    Case("corrupt", _corrupt, True),
    Case("truncated_png", _truncated(png_bytes(size=(32, 32), seed=4), "truncated.png"), True),
    Case("truncated_jpeg", _truncated(jpeg_bytes((32, 32)), "truncated.jpg"), True),
    Case("zero_byte", lambda d: _write(d / "empty.png", b""), True),
    Case("text_named_png", lambda d: _write(d / "notes.png", b"this is not an image\n"), True),
    Case("decompression_bomb", lambda d: _write(d / "bomb.png", bomb_png(20_000, 20_000)), True),
    Case("bomb_warning_size", lambda d: _write(d / "big.png", bomb_png(10_000, 10_000)), True),
    Case("symlink_loop", _loop, True),
    Case("broken_symlink", _broken_link, True),
    Case("fifo_unreadable", _fifo, True),
    Case("jpeg_named_png", lambda d: _write(d / "really_a_jpeg.png", jpeg_bytes()), False),
    Case("sixteen_bit", _sixteen_bit, False),
    Case("cmyk", _cmyk, False),
    Case("palette_transparency", _palette_transparent, False),
    Case("rgba", lambda d: _write(d / "rgba.png", png_bytes(mode="RGBA", seed=6)), False),
    Case("one_pixel", lambda d: _write(d / "one.png", png_bytes(size=(1, 1))), False),
    Case("very_wide", lambda d: _save(d / "wide.png", Image.new("RGB", (20_000, 20), (90, 140, 200))), False),
    Case("exif_rotation", _exif_rotated, False),
    # The feature table (UTF-8 CSV / Parquet) cannot hold the name: `features` skips it, saying why.
    Case("non_utf8_name", _non_utf8, False, frozenset({"features"})),
]
CASES_BY_NAME = {c.name: c for c in IMAGE_CASES}


def good_folder(folder: Path, n: int = 3) -> Path:
    """``n`` small valid PNGs in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _write(folder / f"good_{i}.png", png_bytes(seed=10 + i))
    return folder


def snapshot(root: Path) -> dict[bytes, tuple]:
    """What is under ``root``, without following links or opening FIFOs: path -> (kind, content hash).

    Compare two snapshots to check that a command modified no input file.
    """
    import hashlib

    out = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if os.path.islink(p):
                out[p] = ("link", os.readlink(p))
            elif os.path.isdir(p) and not os.path.islink(p):
                out[p] = ("dir",)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[p] = ("file", hashlib.sha256(f.read()).hexdigest(), st.st_mode & 0o7777)
            else:
                out[p] = ("other", st.st_mode)
    return out
