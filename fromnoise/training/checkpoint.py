"""Checkpoints: safetensors weights + JSON, written atomically, the last K kept.

Layout of a run directory::

    RUN/checkpoints/step_00001200/
        model.safetensors      the Denoiser's weights (network + conditioning encoders)
        ema.safetensors        the exponential moving average of those weights
        optimizer.safetensors  AdamW moments (tensors); their scalars are in trainer.json
        config.json            the model config (``fromnoise.build``) + data description
        trainer.json           step, epoch, data-iterator state, lr schedule, metrics so far

A checkpoint is written into ``step_X.tmp`` and renamed when complete, so a
process killed while saving leaves the previous checkpoint intact, and readers
only ever see complete directories. Nothing here unpickles anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import UserError
from ..io import write_json

_STEP_DIR = re.compile(r"^step_(\d+)$")


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


def save_checkpoint(run_dir: Path, step: int, *, model, ema=None, optimizer=None, config: dict,
                    trainer_state: dict | None = None, keep: int = 3) -> Path:
    """Write checkpoint ``step`` atomically under ``run_dir/checkpoints`` and keep the newest ``keep``."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f"step_{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    meta = {"format": "fromnoise", "step": str(step)}
    save_file(_state(model), str(tmp / "model.safetensors"), metadata=meta)
    if ema is not None:
        save_file(_state(ema), str(tmp / "ema.safetensors"), metadata=meta)
    state = dict(trainer_state or {}, step=step)
    if optimizer is not None:
        tensors, scalars = optimizer_to_tensors(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        state["optimizer"] = scalars
    write_json(tmp / "config.json", config)
    write_json(tmp / "trainer.json", state)
    if final.exists():  # the same step saved twice (e.g. a rerun): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoint directories of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
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
