"""Opening a user's image files safely: the one reader behind every command that reads images.

Image folders (``train``, ``visualize``, ``evaluate``), ``features`` and ``sample --like /
--mask`` all open files through :func:`probe_image` and :func:`read_image`, so every one of them
refuses the same things in the same words, as an :class:`UnreadableImage` (a ``UserError``):

* anything that is not a regular file: a FIFO (``open()`` would block until a writer comes),
  a device, a folder, a broken symbolic link or a symbolic-link loop;
* a header claiming more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (a decompression bomb:
  a few kilobytes that would decode to gigabytes). Pillow itself only warns between 1x and 2x
  that limit and raises ``DecompressionBombError``, which is neither OSError nor ValueError,
  above it; here both are the same refusal, before any pixel is decoded;
* any decoder failure (corrupt, truncated, empty or mis-named files).

Images come out EXIF-rotated as they are displayed and in one of the modes L, LA, RGB or RGBA
with 8 bits per channel (:func:`normalise_mode`: 16-bit grey is scaled, not clipped; palettes
keep their transparency; CMYK becomes RGB). Torch-free, so feature workers import it cheaply.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings

import numpy as np
from PIL import Image, ImageOps

from .errors import UserError

_EXIF_ORIENTATION = 0x0112
# The limit is enforced below, as a refusal, before decoding; Pillow's own warning between 1x and
# 2x the limit would only repeat it (and it is the only warning category silenced here).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class UnreadableImage(UserError):
    """An image file that cannot be read; the message names the file and the reason."""


def shown(path: str | bytes | os.PathLike) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xe9`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_utf8_name(path: str | bytes | os.PathLike) -> bool:
    """True when ``path`` decodes as UTF-8 (a name a CSV or Parquet table can hold)."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_regular_file(path: str | bytes | os.PathLike) -> None:
    """Raise :class:`UnreadableImage` unless ``path`` is (or links to) a regular file."""
    try:
        st = os.stat(path)
    except OSError as err:
        if os.path.islink(path):
            why = "a symbolic-link loop" if err.errno == errno.ELOOP else "a broken symbolic link"
        else:
            why = err.strerror or type(err).__name__
        raise UnreadableImage(f"cannot read the image '{shown(path)}': {why}; point to a real image file.") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a special file"
        raise UnreadableImage(f"cannot read the image '{shown(path)}': it is {kind}, not a regular file.")


def _open(path) -> Image.Image:
    """Image.open with the checks above, before any pixel data is decoded."""
    check_regular_file(path)
    limit = Image.MAX_IMAGE_PIXELS
    try:
        img = Image.open(path)
    except Image.DecompressionBombError:  # above 2x the limit Pillow refuses by itself
        raise _bomb(path, "", limit) from None
    except Exception as err:  # noqa: BLE001 - any decoder failure
        raise _unreadable(path, err) from None
    w, h = img.size
    if limit and w * h > limit:
        img.close()
        raise _bomb(path, f"{w} x {h} ", limit)
    return img


def _bomb(path, size: str, limit: int | None) -> UnreadableImage:
    return UnreadableImage(f"cannot read the image '{shown(path)}': its header claims {size}more pixels than the "
                           f"limit of {limit or 0:,} (PIL.Image.MAX_IMAGE_PIXELS; a decompression bomb?); "
                           "use a smaller image.")


def _unreadable(path, err: BaseException) -> UnreadableImage:
    reason = f"{type(err).__name__}: {err}".replace(str(path), "").replace("''", "").strip()
    return UnreadableImage(f"cannot read the image '{shown(path)}' ({shown(reason)}); "
                           "is it a complete PNG/JPEG/WebP/BMP/TIFF file?")


def probe_image(path: str | bytes | os.PathLike) -> tuple[str, tuple[int, int], bool]:
    """``(mode, (width, height) as displayed, has_alpha)`` from the header alone.

    Raises:
        UnreadableImage: see the module docstring.
    """
    with _open(path) as img:
        try:
            width, height = img.size
            # EXIF orientations 5-8 rotate by 90 degrees: the shown size is swapped.
            if img.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                width, height = height, width
            return img.mode, (width, height), has_alpha_mode(img)
        except Exception as err:  # noqa: BLE001 - a corrupt EXIF block, for one
            raise _unreadable(path, err) from None


def read_image(path: str | bytes | os.PathLike, draft: int | None = None) -> Image.Image:
    """The image at ``path``, fully decoded, EXIF-rotated, in mode L, LA, RGB or RGBA.

    Args:
        draft: the smallest side needed; JPEGs then decode at 1/2, 1/4 or 1/8 scale for free.
    Raises:
        UnreadableImage: see the module docstring.
    """
    with _open(path) as img:
        try:
            if draft is not None:
                img.draft(None, (draft, draft))
            out = normalise_mode(ImageOps.exif_transpose(img))  # a decoded copy: the file closes below
            out.load()
            return out
        except Exception as err:  # noqa: BLE001 - truncated or corrupt data
            raise _unreadable(path, err) from None


def normalise_mode(img: Image.Image) -> Image.Image:
    """Bring any PIL mode to one of L, LA, RGB, RGBA (8 bits per channel).

    16/32-bit grey (I;16, I) is scaled down rather than clipped, palettes keep
    their transparency as alpha, and CMYK/YCbCr/LAB/HSV become RGB.
    """
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I;16") or mode == "I":
        # 16-bit PNG/TIFF: map 0..65535 onto 0..255 (PIL's convert("L") would clip).
        arr = np.asarray(img, dtype=np.float32) / 257.0
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
    if mode == "F":
        return img.convert("L")  # floats: PIL clips to 0..255
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode == "La":
        return img.convert("LA")
    if mode in ("RGBa", "RGBX"):
        return img.convert("RGBA" if mode == "RGBa" else "RGB")
    return img.convert("RGB")


def to_channels_pil(img: Image.Image, channels: int) -> Image.Image:
    """Convert a normalised (L/LA/RGB/RGBA) image to 1, 3 or 4 channels.

    Alpha is composited on white for 1 and 3 channels: transparent parts of
    icons and cut-outs then look like paper, not like black.
    """
    img = normalise_mode(img)
    if channels == 4:
        return img.convert("RGBA")
    if img.mode in ("LA", "RGBA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("L" if channels == 1 else "RGB")


def is_grey_mode(mode: str) -> bool:
    """True for PIL modes that :func:`normalise_mode` turns into L or LA."""
    return mode in ("1", "L", "LA", "La", "I", "F") or mode.startswith("I;16")


def has_alpha_mode(img: Image.Image) -> bool:
    """True when the (not yet decoded) image carries an alpha channel."""
    return img.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (
        img.mode == "P" and "transparency" in img.info
    )
