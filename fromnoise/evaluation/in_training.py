"""In-training evaluation: KID every N steps, logged, and the best checkpoint kept by it.

KID (Binkowski et al. 2018) is the measure here because it is unbiased: its
estimate at a few hundred samples has the same mean as at fifty thousand, so
values logged at small N can be compared along a run. FID is biased upwards at
small N (and singular below 2,048 samples), so it is not used during training.

    hook = make_kid_hook("fashion-mnist", every=1000, n=256)
    Trainer(config, data, options, hooks=[hook]).run()

Every ``every`` steps the hook draws ``n`` images from the EMA weights with the
same seeds each time (so changes in KID come from the weights, not from the
noise), logs ``kid`` and ``kid_std`` to ``metrics.jsonl`` and TensorBoard, and
when KID improves keeps a copy of that step's checkpoint in ``RUN/best/`` with
``RUN/best/best.json = {"step", "kid", "kid_std", "n"}``.

:func:`make_memorization_hook` is the same kind of hook for copies of the training images (issue 25):
every N steps, ``n`` EMA samples (the same seeds each time) are searched for their nearest and
second-nearest training image in pixel space (:mod:`.memorization`), and the share flagged by the 1/3
ratio test is logged as ``memorized_share`` (with the median nearest distance ``memorized_d1``).
When that share rises above :data:`WARN_SHARE`, and again each time it doubles since the last
warning, one warning line says so: the point to stop, or to train with ``--augment``.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fromnoise.checkpoint import list_checkpoints
from fromnoise.config.training import SUGGESTED_AUGMENT
from fromnoise.data import unit_to_uint8
from fromnoise.errors import UserError
from fromnoise.evaluation.conditions import conditions_from_tables
from fromnoise.evaluation.fid import FeatureStats, kid_from_features
from fromnoise.evaluation.inception import InceptionFeatures
from fromnoise.evaluation.memorization import flagged, nearest_two_images, pixel_space
from fromnoise.evaluation.reference import reference_stats
from fromnoise.io import recover_dir, replace_dir, write_json
from fromnoise.sampling.generate import generate
from fromnoise.sampling.samplers import DEFAULT_SAMPLER

BEST_DIR = "best"
BEST_FILE = "best.json"


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
    """``RUN/best/best.json`` as a dict ``{"step", "kid", ...}``, or None when there is none yet."""
    path = Path(run_dir) / BEST_DIR / BEST_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def keep_best(run_dir: str | Path, checkpoint: str | Path, record: dict[str, Any]) -> Path:
    """Copy ``checkpoint`` (a ``checkpoints/step_*`` directory) to ``run_dir/best`` with ``best.json``.

    The copy is written to ``best.tmp``, flushed, and swapped in by ``fromnoise.io.replace_dir``
    (the old ``best/`` moves to ``best.old`` and is removed last), so at every instant ``best/`` or
    ``best.old/`` is a complete checkpoint; :func:`recover_best` puts ``best.old`` back after a crash.
    """
    run_dir = Path(run_dir)
    best, tmp = run_dir / BEST_DIR, run_dir / f"{BEST_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(checkpoint, tmp)
    write_json(tmp / BEST_FILE, record)
    return replace_dir(tmp, best)


def recover_best(run_dir: str | Path) -> str | None:
    """Repair ``run_dir/best`` after a crash inside :func:`keep_best`; a sentence saying what was done, or None."""
    return recover_dir(Path(run_dir) / BEST_DIR)


class KidHook:
    """Trainer hook ``hook(trainer, step)``: see :func:`make_kid_hook`.

    Attributes:
        best: ``{"step", "kid", "kid_std", "n"}`` of the best evaluation so far (also read
            back from ``RUN/best/best.json`` on resume), or None.
        history: ``(step, kid, kid_std)`` of every evaluation made by this hook.
    """

    def __init__(self, reference: FeatureStats | str, every: int, n: int = 256, sampler: str = DEFAULT_SAMPLER,
                 steps: int = 20, seed: int = 0, inception_path: str | Path | None = None,
                 reference_split: str = "train", reference_n: int | None = None, kid_subsets: int = 100,
                 inception: Callable[..., np.ndarray] | None = None, guidance: float = 1.0) -> None:
        if every < 1:
            raise UserError(f"the KID evaluation interval must be at least 1 step, got {every}; pass --eval-every N.")
        if n < 2:
            raise UserError(f"KID needs at least 2 generated images, got {n}; pass --eval-samples 2 or more.")
        if not isinstance(reference, (FeatureStats, str)):
            raise UserError("the KID reference must be FeatureStats or a data set name/folder, "
                            f"got {type(reference).__name__}.")
        self.reference = reference
        self.every, self.n, self.sampler, self.steps, self.seed = every, n, sampler, steps, seed
        self.guidance = float(guidance)
        self.inception_path = inception_path
        self.reference_split = reference_split
        # KID's variance falls with the reference size too; 1,000 images is cheap once (it is cached).
        self.reference_n = reference_n if reference_n is not None else max(n, 1000)
        self.kid_subsets = kid_subsets
        self._inception = inception
        self._ref: FeatureStats | None = reference if isinstance(reference, FeatureStats) else None
        self.best: dict[str, Any] | None = None
        self._best_loaded = False
        self.history: list[tuple[int, float, float]] = []

    # ------------------------------------------------------------------------------- set-up
    def inception(self) -> Callable[..., np.ndarray]:
        """The feature network, loaded on first use (it takes seconds)."""
        if self._inception is None:
            self._inception = InceptionFeatures(self.inception_path)
        return self._inception

    def reference_stats(self, trainer) -> FeatureStats:
        """Reference features at the trainer's image size and channels (cached on disk by name)."""
        if self._ref is None:
            image = trainer.config["image"]
            self._ref = reference_stats(self.reference, image_size=int(image["size"]),
                                        channels=int(image["channels"]), split=self.reference_split,
                                        n=self.reference_n, inception=self.inception(), progress=False)
        if self._ref.features is None or self._ref.n < 2:
            raise UserError("the KID reference statistics hold no raw features (KID needs them); "
                            "rebuild them with fromnoise.evaluation.reference_stats.")
        return self._ref

    # ------------------------------------------------------------------------------ evaluate
    @torch.no_grad()
    def evaluate(self, trainer) -> tuple[float, float]:
        """KID (mean, std over subsets) of ``n`` EMA samples against the reference."""
        ref = self.reference_stats(trainer)
        # a conditional model is scored on the conditions of random training images, not its null condition
        cond, _ = conditions_from_tables(trainer.tables, self.n, self.seed)
        images = generate(trainer.ema.model, self.n, sampler=self.sampler, steps=self.steps, seed=self.seed,
                          condition=cond, guidance=self.guidance if cond else 1.0)
        features = self.inception()(unit_to_uint8(images), progress=False)  # generate() gives [0, 1]
        subset = min(1000, self.n, ref.n)
        kid, kid_std = kid_from_features(features, ref.features, self.kid_subsets, subset, self.seed)
        return float(kid), float(kid_std)

    def __call__(self, trainer, step: int) -> None:
        if step % self.every:
            return
        if not self._best_loaded:  # on resume, the best of the earlier invocations still counts
            note = recover_best(trainer.out)
            if note:
                trainer.logger.note(f"recovered after a crash: {note}")
            self.best, self._best_loaded = read_best(trainer.out), True
        kid, kid_std = self.evaluate(trainer)
        self.history.append((step, kid, kid_std))
        trainer.logger.scalars(step, {"kid": kid, "kid_std": kid_std})
        if not math.isfinite(kid) or (self.best is not None and kid >= float(self.best["kid"])):
            return
        saved = list_checkpoints(trainer.out)
        # the trainer may have saved this very step already (save_every); do not write it twice
        checkpoint = saved[-1] if saved and saved[-1].name == f"step_{step:08d}" else trainer.save()
        self.best = {"step": int(step), "kid": kid, "kid_std": kid_std, "n": self.n,
                     "sampler": self.sampler, "steps": self.steps, "checkpoint": checkpoint.name}
        keep_best(trainer.out, checkpoint, self.best)
        trainer.logger.note(f"new best KID {kid:.5f} at step {step}: kept in {Path(trainer.out) / BEST_DIR}")


def make_kid_hook(reference: FeatureStats | str, every: int, n: int = 256, sampler: str = DEFAULT_SAMPLER,
                  steps: int = 20, seed: int = 0, inception_path: str | Path | None = None, **kwargs) -> KidHook:
    """A trainer hook that measures KID every ``every`` steps and keeps the best checkpoint.

    Args:
        reference: reference statistics with raw features (``reference_stats(...)``), or a
            data set name / folder whose ``reference_split`` (default "train") is featurised
            at the trainer's resolution on first use and cached.
        every: steps between evaluations.
        n: images generated per evaluation (KID subsets have ``min(1000, n)`` images).
        sampler, steps: how the images are drawn from ``trainer.ema.model`` (20 NFE by default).
        seed: the same seeds every time, so KID moves with the weights only.
        inception_path: the TorchScript Inception file (default: found as InceptionFeatures does).
        **kwargs: ``reference_split``, ``reference_n`` (default ``max(n, 1000)``), ``kid_subsets``,
            ``inception`` (a feature callable, for tests), ``guidance`` (conditional models, whose images
            take the conditions of random training images; default 1).

    Returns:
        :class:`KidHook`, a callable ``hook(trainer, step)`` for ``Trainer(hooks=[...])``.
    """
    return KidHook(reference, every, n, sampler, steps, seed, inception_path, **kwargs)


WARN_SHARE = 0.10  # warn when more than this share of the samples is flagged (then each time it doubles)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class MemorizationHook:
    """Trainer hook ``hook(trainer, step)``: see :func:`make_memorization_hook`.

    Attributes:
        history: ``(step, memorized share)`` of every check made by this hook.
        warned: the share at the last warning (None: no warning yet).
    """

    def __init__(self, every: int, n: int = 64, sampler: str = DEFAULT_SAMPLER, steps: int = 20, seed: int = 0,
                 warn: Callable[[str], None] | None = None):
        if every < 1:
            raise UserError(f"the memorization check interval must be at least 1 step, got {every}; "
                            "pass --memorization-every N (0: off)")
        self.every, self.n, self.sampler, self.steps, self.seed = every, n, sampler, steps, seed
        self.warn = warn or _to_stderr  # a module-level function: the hook is pickled to spawned processes
        self.history: list[tuple[int, float]] = []
        self.warned: float | None = None

    @torch.no_grad()
    def measure(self, trainer) -> dict[str, float]:
        """``{"memorized_share", "memorized_d1"}`` of ``n`` EMA samples against the training images (pixels)."""
        cond, _ = conditions_from_tables(trainer.tables, self.n, self.seed)
        images = generate(trainer.ema.model, self.n, sampler=self.sampler, steps=self.steps, seed=self.seed,
                          condition=cond)
        samples = unit_to_uint8(images.cpu())  # generate() gives [0, 1]
        # trained on mirror images too (the batches flip): a copy may be mirrored
        d, _ = nearest_two_images(pixel_space, samples, trainer.data.images, embed=pixel_space,
                                  mirrored=getattr(trainer.batches, "hflip", False))
        return {"memorized_share": float(flagged(d[:, 0], d[:, 1]).float().mean()),
                "memorized_d1": float(d[:, 0].median())}

    def __call__(self, trainer, step: int) -> None:
        if step % self.every:
            return
        values = self.measure(trainer)
        share = values["memorized_share"]
        self.history.append((step, share))
        trainer.logger.scalars(step, values)
        if share > WARN_SHARE and (self.warned is None or share >= 2 * self.warned):
            self.warned = share
            line = (f"warning: at step {step}, {share:.0%} of {self.n} samples sit close to one training image "
                    "(memorized by the 1/3 ratio test): the model is copying its training images; stop here, "
                    f"or train with --augment {SUGGESTED_AUGMENT}, and check with "
                    "fromnoise evaluate RUN --memorization")
            trainer.logger.note(line)
            self.warn(line)


def make_memorization_hook(every: int, n: int = 64, sampler: str = DEFAULT_SAMPLER, steps: int = 20,
                           seed: int = 0, warn: Callable[[str], None] | None = None) -> MemorizationHook:
    """A trainer hook that measures the share of memorized samples every ``every`` steps (pixel space).

    Args:
        every: steps between checks (``fromnoise.config.training.memorization_interval`` decides by default).
        n: samples per check (64: about one sample grid's cost; the share moves in steps of 1/n).
        sampler, steps, seed: how the samples are drawn from ``trainer.ema.model``, the same seeds each time.
        warn: where the warning line goes (default: standard error; it is also written to log.txt).
    """
    return MemorizationHook(every, n, sampler, steps, seed, warn)
