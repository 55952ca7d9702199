"""Crash-safe file writing: every file fromnoise writes appears whole or not at all.

A writer fills a temporary file beside the target, flushes it to disk (``fsync``),
then ``os.replace`` moves it into place in one step and the directory entry is
flushed too, so a crash, a kill or a power cut never leaves a half-written file,
and a rename is never seen before the data it names.

Directories (checkpoints, ``best/``) are replaced with :func:`replace_dir`: the new
one is written beside the old, the old is moved aside to ``NAME.old``, the new one
is renamed into place, and only then is the old one removed. At every instant
either ``NAME`` or ``NAME.old`` is complete, and :func:`recover_dir` (run on start)
puts ``NAME.old`` back when a crash came between the two renames.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def fsync_path(path: str | Path) -> None:
    """Flush a file's or a directory's contents (a directory: its entries) to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. a file system that cannot open directories: nothing more to do
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file under ``root``, then every directory, deepest first."""
    root = Path(root)
    dirs = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            fsync_path(Path(dirpath) / name)
        dirs.extend(Path(dirpath) / d for d in dirnames)
    for d in reversed(dirs):
        fsync_path(d)


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, flush it, then move it over ``path``.

    The temporary file is created with mode 0o666 so the process umask applies as for any
    new file (no process-wide umask juggling, which would race with other threads).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        write(str(tmp))
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write text atomically (UTF-8)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj, indent: int = 2) -> Path:
    """Write JSON atomically (non-JSON values such as paths are written as strings)."""
    return write_text(path, json.dumps(obj, indent=indent, default=str))


def replace_dir(new: str | Path, final: str | Path) -> Path:
    """Move the complete directory ``new`` to ``final``, replacing any old ``final`` crash-safely.

    ``new`` is fsynced first. An existing ``final`` is renamed to ``final.old`` before the
    rename and deleted after it, so a crash leaves either ``final`` or ``final.old`` whole
    (``recover_dir`` restores the latter).
    """
    new, final = Path(new), Path(final)
    old = final.with_name(final.name + ".old")
    fsync_tree(new)
    if old.exists() and final.exists():  # a leftover from an earlier crash after the swap
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
        fsync_path(final.parent)
    os.replace(new, final)
    fsync_path(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    return final


def recover_dir(final: str | Path) -> str | None:
    """Repair what a crash inside :func:`replace_dir` or a directory write can leave behind.

    ``final.old`` without ``final``: the crash came between the two renames; it is renamed
    back. ``final.old`` beside ``final``: the swap completed; the old copy is removed.
    ``final.tmp``: an unfinished write; removed. Returns a sentence saying what was done, or None.
    """
    final = Path(final)
    old, tmp = final.with_name(final.name + ".old"), final.with_name(final.name + ".tmp")
    said = []
    if old.exists():
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            said.append(f"removed the stale copy {old.name}")
        else:
            os.replace(old, final)
            fsync_path(final.parent)
            said.append(f"restored {final.name} from {old.name} (a crash interrupted its replacement)")
    if tmp.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        said.append(f"removed the unfinished {tmp.name}")
    return "; ".join(said) or None
