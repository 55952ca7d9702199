"""What a run resumes from and saves: the loop's side of ``fromnoise.checkpoint``.

A checkpoint holds the model (``model.safetensors``), its EMA (``ema.safetensors``, when the run
keeps one), the optimizer, the data order, every process's random-generator state and what the
objective adds (a learned loss weighting; a discriminator and its optimizer); ``trainer.json``
holds ``step``, ``batches``, ``images_seen``, ``world_size``, ``ema_updates`` and the objective's
entries. Resuming restores all of it, so N steps in one run and N/2 + resume + N/2 give the same
weights, bit for bit, on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from ..checkpoint import (
    list_checkpoints,
    load_weights,
    optimizer_from_tensors,
    read_checkpoint,
    read_rng_state,
    recover_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .ema import PostHocEMA, drop_snapshots_after, save_snapshot
from .runtime import process_seed, seed_everything

POSTHOC_FILE = "posthoc_ema.safetensors"  # a checkpoint's post-hoc EMA trackers (--ema-snapshots)


class RunState:
    """Resume and save for :class:`~fromnoise.training.loop.TrainingLoop` (its attributes: ``out``, ``net``,
    ``optimizer``, ``objective``, ``batches``, ``ema``, ``posthoc``, ``step``, ``rank``, ``world``, ...)."""

    def check_same_model(self, ckpt: Path, saved: dict) -> None:
        """Raise a UserError when ``saved`` (a checkpoint's config) describes another model than this run's."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------- resume
    def _resume(self) -> None:
        if self.main:
            for note in recover_checkpoints(self.out):
                self.logger.note(f"recovered after a crash: {note}")
        self.acc.wait_for_everyone()  # the others read what the main process repaired
        if not list_checkpoints(self.out):
            if self.main:
                self.logger.truncate(0)  # the metrics of a run killed before its first checkpoint
                self.logger.note("started a new run at step 0")
            return
        ckpt, saved, state = read_checkpoint(self.out)
        self.check_same_model(ckpt, saved)
        load_weights(self.net, ckpt / "model.safetensors")
        self.step = int(state.get("step", 0))
        if self.ema is not None:
            load_weights(self.ema.model, ckpt / ("ema.safetensors" if (ckpt / "ema.safetensors").exists()
                                                 else "model.safetensors"))
            self.ema.updates = int(state.get("ema_updates", self.step))
        # a run that changes what the optimizer steps (--loss-weighting on or off) starts it afresh
        if self.objective.load(ckpt, state, self.logger.note) and (ckpt / "optimizer.safetensors").exists() \
                and "optimizer" in state:
            self.optimizer.load_state_dict(optimizer_from_tensors(load_file(str(ckpt / "optimizer.safetensors")),
                                                                  state["optimizer"]))
        self._resume_posthoc(ckpt)
        if "batches" in state:
            self.batches.load_state_dict(state["batches"])
        saved_world = int(state.get("world_size", 1))
        saved_rng = read_rng_state(ckpt, state, self.rank) if saved_world == self.world else None
        if saved_rng is not None:
            set_rng_state(*saved_rng)
        else:  # fresh randomness, not a replay
            why = ("holds no random-generator state for this process" if saved_world == self.world else
                   f"was saved by {saved_world} process(es) and this run has {self.world}")
            self.logger.note(f"{ckpt.name} {why}; reseeding every process from seed, step and rank "
                             "(the run continues, but not as a replay of the same random draws)")
            seed_everything(process_seed(self.opt.seed, self.rank, self.step))
        self.logger.truncate(self.step)  # steps logged after this checkpoint are trained again
        self.logger.note(f"resumed from {ckpt} at step {self.step}")

    def _resume_posthoc(self, ckpt: Path) -> None:
        """The post-hoc EMA trackers from ``ckpt``; snapshots after it are dropped (those steps are trained again)."""
        if self.main:
            gone = drop_snapshots_after(self.out, self.step)
            if gone:
                self.logger.note(f"removed {gone} EMA snapshot(s) after step {self.step}: "
                                 "those steps are trained again")
        if self.posthoc is None:
            return
        if (ckpt / POSTHOC_FILE).is_file():
            self.posthoc.load(load_file(str(ckpt / POSTHOC_FILE)), self.step)
        else:
            self.posthoc = PostHocEMA(self.net)  # the trackers start from this checkpoint's weights
            self.posthoc.updates = self.step
            self.logger.note(f"{ckpt.name} holds no post-hoc EMA trackers; they start from its weights")

    # ------------------------------------------------------------------------------------- save
    def save(self) -> Path:
        """Write a checkpoint of this step (on the main process; the path on every process).

        Called by every process, it gathers their generator states first; called by the main
        process alone (a hook), it saves the main process's and resuming reseeds the others."""
        files, entries = self.objective.checkpoint()
        state = {"batches": self.batches.state_dict(),
                 "images_seen": self.step * self.opt.batch_size * self.grad_accum, "world_size": self.world,
                 **entries}
        if self.ema is not None:
            state = {"ema_updates": self.ema.updates, **state}
        if self.posthoc is not None:
            files = dict(files, **{POSTHOC_FILE: self.posthoc.state()})
        ranks = None
        if self.world > 1 and self._collective:
            from accelerate.utils import gather_object  # slow to import: only in a data-parallel run

            ranks = gather_object([rng_state()])  # one (tensors, scalars) per process, in rank order
        path = self.out / "checkpoints" / f"step_{self.step:08d}"
        if self.main:
            path = save_checkpoint(self.out, self.step, model=self.acc.unwrap_model(self.model),
                                   ema=self.ema.model if self.ema is not None else None, optimizer=self.optimizer,
                                   config=self.config, trainer_state=state, keep=self.opt.keep, rng_ranks=ranks,
                                   extra=files or None)
            if self.posthoc is not None:  # every checkpoint's step has its snapshot, for fromnoise posthoc-ema
                save_snapshot(self.out, self.step, self.posthoc)
        if self._collective:
            self.acc.wait_for_everyone()
        return path


def jsonable(obj):
    """``obj`` as it reads back from JSON (tuples become lists): a config compared with a saved one."""
    return json.loads(json.dumps(obj, default=str))
