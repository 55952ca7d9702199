"""Shared CLI helpers: TOML config files under command-line overrides, device choice, messages.

Every command module imports this one to build its options, so it stays light: torch and accelerate
are imported inside the two device functions, which only a running command calls.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import click

from ..errors import UserError


def apply_config_file(ctx: click.Context, path: str | None, params: dict) -> dict:
    """Values from a TOML file fill every option the user did not give on the command line.

    Keys are option names with '_' or '-' (``batch_size = 128``); tables are flattened
    (``[train] lr = 1e-3`` works like ``lr = 1e-3``). Unknown keys are an error.
    """
    if not path:
        return params
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UserError(f"cannot read the config file '{path}': {err}") from None
    flat: dict = {}
    stack = [raw]
    while stack:
        for key, value in stack.pop().items():
            if isinstance(value, dict):
                stack.append(value)
            else:
                flat[key.replace("-", "_")] = value
    unknown = sorted(set(flat) - set(params))
    if unknown:
        raise UserError(f"unknown setting(s) {', '.join(unknown)} in '{path}'; "
                        f"known: {', '.join(sorted(k for k in params if k != 'config'))}")
    out = dict(params)
    for key, value in flat.items():
        if ctx.get_parameter_source(key) in (click.core.ParameterSource.DEFAULT, None):
            out[key] = value
    return out


def pick_device(device: str | None) -> str:
    """The torch device to run on: ``auto`` (or None) picks CUDA when a GPU is available, else the CPU."""
    import torch  # here, not at the top: --help imports this module and must not pay for torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu")
    return device


def process_role(device: str | None) -> tuple[bool, str]:
    """(is this the main process, the device to use) for a command that may run under a launcher
    (``accelerate launch`` or ``--processes N``): several processes take one GPU each, or share the CPU."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return True, pick_device(device)
    from accelerate import PartialState  # slow to import, and only a launched run needs it

    state = PartialState(cpu=pick_device(device) == "cpu")  # cuda:LOCAL_RANK, or the CPU when asked for
    return state.is_main_process, str(state.device)


def done(message: str) -> None:
    """The closing line of a command that succeeded, in green on stderr."""
    click.secho(message, fg="green", err=True)
