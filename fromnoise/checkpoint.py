"""Checkpoints: safetensors weights + JSON, written atomically, the last K kept.

Layout of a run directory::

    RUN/checkpoints/step_00001200/
        model.safetensors      the Denoiser's weights (network + conditioning encoders)
        ema.safetensors        the exponential moving average of those weights
        optimizer.safetensors  AdamW moments (tensors); their scalars are in trainer.json
        config.json            the model config (``fromnoise.build``) + data description
        trainer.json           step, epoch, data-iterator state, lr schedule, metrics so far

        rng.safetensors        the random number generators' states (torch CPU/CUDA, numpy);
                               Python's ``random`` state is JSON in trainer.json
        rng_rank1.safetensors  ... of process 1, 2, ... in a data-parallel run (rng.safetensors is
                               process 0's); trainer.json says the ``world_size`` that saved them

A checkpoint is written into ``step_X.tmp``, every file is flushed to disk, and the
directory is renamed when complete (``fromnoise.io.replace_dir``), so a process
killed while saving leaves the previous checkpoint intact, and readers only ever
see complete directories. Re-saving a step moves the old copy aside first and
deletes it last; :func:`recover_checkpoints` repairs what a kill leaves behind.
A full disk while saving keeps every earlier checkpoint and says so.
Nothing here unpickles anything.
"""

from __future__ import annotations

import errno
import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .errors import UserError
from .io import recover_dir, replace_dir, write_json

_STEP_DIR = re.compile(r"^step_(\d+)$")
_LEFTOVER = re.compile(r"^step_(\d+)\.(old|tmp)$")
REQUIRED_FILES = ("model.safetensors", "config.json")


def _state(module_or_dict) -> dict[str, torch.Tensor]:
    sd = module_or_dict.state_dict() if hasattr(module_or_dict, "state_dict") else module_or_dict
    return {k: v.detach().contiguous().cpu() for k, v in sd.items()}


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (safetensors) and JSON-able scalars."""
    sd = opt.state_dict()
    tensors, scalars = {}, {"param_groups": sd["param_groups"], "state": {}}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{idx}.{key}"] = val.detach().contiguous().cpu()
            else:
                scalars["state"].setdefault(str(idx), {})[key] = val
    return tensors, scalars


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], scalars: dict) -> dict:
    state: dict[int, dict] = {}
    for name, val in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = val
    for idx, st in scalars.get("state", {}).items():
        state.setdefault(int(idx), {}).update(st)
    return {"state": state, "param_groups": scalars["param_groups"]}


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """Every global random generator's state, as (tensors for safetensors, JSON-able scalars).

    torch's CPU generator (and each CUDA device's), numpy's global MT19937 and Python's
    ``random``: the sources that timesteps, noise, dropout and augmentation draw from.
    """
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, st in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = st
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy())
    version, internal, gauss = random.getstate()
    scalars = {"numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
               "python": {"version": version, "state": list(internal), "gauss": gauss}}
    return tensors, scalars


def set_rng_state(tensors: dict[str, torch.Tensor], scalars: dict) -> None:
    """Restore what :func:`rng_state` saved (CUDA states only where the devices exist)."""
    torch.set_rng_state(tensors["torch_cpu"].to(torch.uint8))
    if torch.cuda.is_available():
        cuda = [tensors[f"torch_cuda_{i}"] for i in range(torch.cuda.device_count()) if f"torch_cuda_{i}" in tensors]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    if "numpy_keys" in tensors and "numpy" in scalars:
        n = scalars["numpy"]
        keys = tensors["numpy_keys"].numpy().view(np.uint32)
        np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "python" in scalars:
        p = scalars["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def rng_file(rank: int) -> str:
    """The file holding process ``rank``'s generator states: rng.safetensors for process 0."""
    return "rng.safetensors" if rank == 0 else f"rng_rank{rank}.safetensors"


def read_rng_state(ckpt: Path, state: dict, rank: int) -> tuple[dict[str, torch.Tensor], dict] | None:
    """Process ``rank``'s saved generator states (for :func:`set_rng_state`), or None when absent."""
    scalars = state.get("rng") if rank == 0 else state.get("rng_ranks", {}).get(str(rank))
    file = Path(ckpt) / rng_file(rank)
    if scalars is None or not file.exists():
        return None
    return load_file(str(file)), scalars


def save_checkpoint(run_dir: Path, step: int, *, model, ema=None, optimizer=None, config: dict,
                    trainer_state: dict | None = None, keep: int = 3, rng: bool = True,
                    rng_ranks: list | None = None, extra: dict | None = None) -> Path:
    """Write checkpoint ``step`` crash-safely under ``run_dir/checkpoints`` and keep the newest ``keep``.

    ``extra``: more modules (or dicts of tensors) to save beside the model, by file name
    (``{"loss_weighting.safetensors": module}``), written into the same directory before it is
    renamed into place.

    ``rng_ranks``: in a data-parallel run, every process's :func:`rng_state` (gathered by the
    caller, process 0 first), written as rng.safetensors, rng_rank1.safetensors, ...; without
    it, this process's own state is saved as process 0's.

    Raises UserError when the disk is full (or another OS error stops the write): the
    unfinished copy is removed and every earlier checkpoint is left as it was.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f"step_{step:08d}.tmp"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        meta = {"format": "fromnoise", "step": str(step)}
        save_file(_state(model), str(tmp / "model.safetensors"), metadata=meta)
        if ema is not None:
            save_file(_state(ema), str(tmp / "ema.safetensors"), metadata=meta)
        for name, module in (extra or {}).items():
            save_file(_state(module), str(tmp / name), metadata=meta)
        state = dict(trainer_state or {}, step=step)
        if optimizer is not None:
            tensors, scalars = optimizer_to_tensors(optimizer)
            save_file(tensors, str(tmp / "optimizer.safetensors"))
            state["optimizer"] = scalars
        if rng:
            ranks = rng_ranks or [rng_state()]
            for rank, (tensors, scalars) in enumerate(ranks):
                save_file(tensors, str(tmp / rng_file(rank)))
                if rank == 0:
                    state["rng"] = scalars
                else:
                    state.setdefault("rng_ranks", {})[str(rank)] = scalars
            state.setdefault("world_size", len(ranks))  # the trainer says, when a hook saved alone
        write_json(tmp / "config.json", config)
        write_json(tmp / "trainer.json", state)
        replace_dir(tmp, final)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = [p.name for p in list_checkpoints(run_dir)]
        why = "the disk is full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else f"{err.strerror or err}"
        previous = f"the previous checkpoint {kept[-1]} is intact" if kept else "no earlier checkpoint exists"
        raise UserError(f"could not write the checkpoint of step {step} in '{root}' ({why}); {previous}"
                        "; free some space and rerun the same command to resume") from None
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def recover_checkpoints(run_dir: Path) -> list[str]:
    """Repair the leftovers a kill can leave in ``run_dir/checkpoints`` (see ``fromnoise.io.recover_dir``).

    Returns one sentence per repair, for the run log.
    """
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    said = []
    for step in sorted({m.group(1) for p in root.iterdir() if (m := _LEFTOVER.match(p.name))}):
        note = recover_dir(root / f"step_{step}")
        if note:
            said.append(note)
    return said


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoint directories of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if p.is_dir() and (m := _STEP_DIR.match(p.name)) and all((p / f).is_file() for f in REQUIRED_FILES)]
    return [p for _, p in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory from a run directory (its latest checkpoint), a checkpoint
    directory, or a file inside one."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"no checkpoint at '{p}': pass a run directory (from 'fromnoise train --out') "
                        "or one of its checkpoints/step_* directories")
    if p.is_file():
        p = p.parent
    if (p / "config.json").is_file() and (p / "model.safetensors").is_file():
        return p
    ckpts = list_checkpoints(p)
    if not ckpts:
        raise UserError(f"'{p}' holds no complete checkpoint (expected checkpoints/step_*/model.safetensors); "
                        "has training saved one yet?")
    return ckpts[-1]


def read_checkpoint(path: str | Path) -> tuple[Path, dict, dict]:
    """(checkpoint dir, config, trainer state) of a checkpoint, without loading weights."""
    ckpt = resolve_checkpoint(path)
    try:
        config = json.loads((ckpt / "config.json").read_text())
        trainer = json.loads((ckpt / "trainer.json").read_text()) if (ckpt / "trainer.json").exists() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"the checkpoint '{ckpt}' has an unreadable config ({err}); it may be corrupt") from None
    return ckpt, config, trainer


def load_weights(module: torch.nn.Module, file: Path) -> None:
    """Load safetensors weights into ``module``; a mismatch is a UserError naming the file."""
    try:
        sd = load_file(str(file))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise UserError(f"cannot read weights from '{file}': {err}") from None
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        example = (wrong or missing or unexpected)[0]
        raise UserError(f"the weights in '{file}' do not fit this architecture ({len(missing)} missing, "
                        f"{len(unexpected)} unexpected, {len(wrong)} of another shape, e.g. {example!r}); "
                        "the config and the weights come from different models")
    module.load_state_dict(sd)
