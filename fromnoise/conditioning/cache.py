"""On-disk cache of caption embeddings, so a data set's captions go through the frozen text model once.

A cache file is a safetensors file in ``$FROMNOISE_CACHE/text`` (default
``~/.cache/fromnoise/text``) named after the text model, the token count and a
SHA-256 of the caption list; it holds the tensors the text model returned and
the captions themselves (metadata) so a hash collision is detected, not trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch


def cache_dir() -> Path:
    """``$FROMNOISE_CACHE/text`` or ``~/.cache/fromnoise/text``."""
    root = os.environ.get("FROMNOISE_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "fromnoise") / "text"


def cache_path(model: str, max_tokens: int, captions: list[str]) -> Path:
    """Where the embeddings of ``captions`` by ``model`` (``max_tokens`` tokens) are cached."""
    digest = hashlib.sha256(json.dumps(captions, ensure_ascii=False).encode("utf-8")).hexdigest()[:20]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(model)).strip("_")[-60:] or "model"
    return cache_dir() / f"{safe}-L{max_tokens}-{digest}.safetensors"


def cached_embeddings(model: str, max_tokens: int, captions: list[str],
                      compute: Callable[[list[str]], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``compute(captions)`` from the cache when present, else computed and written (atomically).

    The tensors are stored exactly (float32 stays float32), so cached equals recomputed.
    An unreadable or mismatched cache file is recomputed and replaced.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open, save_file

    path = cache_path(model, max_tokens, captions)
    if path.exists():
        try:
            with safe_open(str(path), framework="pt") as f:
                same = json.loads((f.metadata() or {}).get("captions", "null")) == captions
            if same:
                return load_file(str(path))
        except (SafetensorError, OSError, ValueError):
            pass  # a broken file (an interrupted write elsewhere): recompute below
    tensors = {k: v.detach().cpu().contiguous() for k, v in compute(captions).items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        save_file(tensors, tmp, metadata={"model": str(model), "captions": json.dumps(captions, ensure_ascii=False)})
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the cache is an optimisation, never a requirement
    return tensors
