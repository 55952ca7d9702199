"""The runs the page knows: found on disk, loaded once with ``fromnoise.load``, one lock each.

A run is any directory holding ``checkpoints/step_*`` (what ``fromnoise train --out`` writes).
The page lists the runs given on the command line and those found under ``--runs DIR``
(two levels deep), and rescans when asked, so a run trained from the Train tab appears.
A loaded model is reloaded when its run has saved a newer checkpoint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from .. import load
from ..checkpoint import list_checkpoints
from ..errors import UserError


def find_runs(root: str | Path, depth: int = 2) -> list[Path]:
    """Run directories (with at least one complete checkpoint) at most ``depth`` levels under ``root``."""
    root = Path(root)
    if not root.is_dir():
        return []
    found, frontier = [], [root]
    for _ in range(depth + 1):
        nxt = []
        for d in frontier:
            if list_checkpoints(d):
                found.append(d)
                continue  # a run's own sub-folders are not runs
            nxt.extend(sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")))
        frontier = nxt
    return sorted(found)


@dataclass
class Model:
    """A loaded run: the Denoiser, the checkpoint it came from, and the lock that makes its
    generations wait their turn (one at a time per model)."""

    name: str
    path: Path
    denoiser: object
    checkpoint: Path
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The conditioning encoders of this model: class, text, features, mask (empty: unconditional)."""
        return tuple(self.denoiser.encoders)

    @property
    def image_size(self) -> int:
        return int(self.denoiser.image_shape[-1])

    @property
    def channels(self) -> int:
        return int(self.denoiser.image_shape[0])

    @property
    def class_names(self) -> list[str]:
        enc = self.denoiser.encoders["class"] if "class" in self.denoiser.encoders else None
        return list(enc.class_names) if enc is not None else []

    @property
    def captions(self) -> list[str]:
        enc = self.denoiser.encoders["text"] if "text" in self.denoiser.encoders else None
        return list(enc.captions) if enc is not None else []


class ModelStore:
    """Run discovery and a cache of loaded models, shared by every tab of the page.

    Args:
        runs: run directories given explicitly (``fromnoise serve RUN ...``).
        runs_dir: a directory to scan for runs (``--runs``), or None.
        device: where the models run.
    """

    def __init__(self, runs: list[str | Path] = (), runs_dir: str | Path | None = None, device: str = "cpu"):
        self.explicit = [Path(r) for r in runs]
        for r in self.explicit:
            if not list_checkpoints(r):
                raise UserError(f"'{r}' is not a run with a checkpoint (expected {r}/checkpoints/step_*); "
                                "pass a directory written by 'fromnoise train --out'")
        self.runs_dir = Path(runs_dir) if runs_dir else None
        self.device = device
        self._loaded: dict[str, Model] = {}
        self._guard = threading.Lock()
        self.paths: dict[str, Path] = {}
        self.refresh()

    def refresh(self) -> list[str]:
        """Rescan for runs; returns the model names, in display order."""
        paths: dict[str, Path] = {}
        for r in self.explicit:
            paths.setdefault(r.name, r)
        if self.runs_dir is not None:
            for r in find_runs(self.runs_dir):
                name = str(r.relative_to(self.runs_dir))
                if name in paths and paths[name].resolve() != r.resolve():
                    name = str(r)
                paths.setdefault(name, r)
        self.paths = paths
        return list(paths)

    def names(self) -> list[str]:
        return list(self.paths)

    def path(self, name: str) -> Path:
        if name not in self.paths:
            self.refresh()
        if name not in self.paths:
            known = ", ".join(self.paths) or "none (train one first)"
            raise UserError(f"no run named '{name}'; the runs found are: {known}")
        return self.paths[name]

    def get(self, name: str) -> Model:
        """The loaded model ``name`` (loaded on first use, reloaded when a newer checkpoint exists)."""
        path = self.path(name)
        latest = list_checkpoints(path)
        if not latest:
            raise UserError(f"the run '{path}' has no complete checkpoint any more; has it been deleted?")
        with self._guard:
            model = self._loaded.get(name)
            if model is None or model.checkpoint != latest[-1]:
                denoiser = load(path, device=self.device)
                lock = model.lock if model is not None else threading.Lock()
                model = Model(name, path, denoiser, Path(denoiser.checkpoint), lock)
                self._loaded[name] = model
            return model
