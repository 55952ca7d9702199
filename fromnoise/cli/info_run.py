"""The body of ``fromnoise info`` (the command is in :mod:`fromnoise.cli.info`).

Imported only when the command runs: building the network to count its parameters imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from safetensors import safe_open

from ..autoencoder.reconstruct import describe_autoencoder, describe_latent
from ..build import build_denoiser
from ..checkpoint import list_checkpoints, read_checkpoint
from ..errors import UserError
from ..models import count_parameters


def run(checkpoint: str, as_json: bool) -> None:
    """Print a checkpoint's description (or, ``as_json``, its whole config and trainer state)."""
    ckpt, config, state = read_checkpoint(checkpoint)
    if config.get("kind") == "autoencoder" and not as_json:
        click.echo(describe_autoencoder(ckpt))
        return
    if as_json:
        click.echo(json.dumps({"checkpoint": str(ckpt), "config": config, "trainer": {
            k: v for k, v in state.items() if k != "optimizer"}}, indent=2, default=str))
        return
    denoiser = build_denoiser(config)
    check_weights(ckpt, denoiser)
    model, diff, data = config["model"], config["diffusion"], config.get("data", {})
    training = config.get("training", {})
    size = sum(p.stat().st_size for p in ckpt.iterdir()) / 1e6
    lines = [
        f"checkpoint   {ckpt} ({size:.1f} MB)",
        f"preset       {config.get('preset', '?')} ({model['arch']}), "
        f"{count_parameters(denoiser) / 1e6:.2f}M parameters",
        f"images       {config['image']['channels']} x {config['image']['size']} x {config['image']['size']}",
        f"diffusion    {diff['schedule']} schedule, T = {diff['timesteps']}, {diff['prediction']}-prediction",
        f"conditioning {', '.join(config.get('conditioning') or {}) or 'none'}",
        f"trained      {state.get('step', '?')} steps, {state.get('images_seen', '?')} images seen, "
        f"batch {training.get('batch_size', '?')}, lr {training.get('lr', '?')}",
        f"data         {data.get('source', '?')} {data.get('path', '') or ''} ({data.get('n', '?')} images)",
    ]
    suggested = (model.get("defaults") or {}).get("guidance")
    if suggested is not None and config.get("conditioning"):
        lines.append(f"guidance     {suggested:g} (the preset's measured scale: fromnoise sample and the page use it "
                     "for conditional images unless --guidance is given)")
    if training.get("augment"):
        lines.append(f"augment      {training['augment']} (non-leaking: x-flip, translation, scaling, rotation; "
                     "labelled, zero at sampling)")
    lines += memorization_lines(ckpt, config)
    if config.get("latent"):
        lines.insert(3, describe_latent(config, ckpt))
    if "class" in (config.get("conditioning") or {}):
        lines.append(f"classes      {', '.join(config['conditioning']['class'].get('class_names', []))}")
    others = list_checkpoints(ckpt.parent.parent) if ckpt.parent.name == "checkpoints" else []
    if others:
        lines.append(f"all saved    {', '.join(p.name for p in others)}")
    click.echo("\n".join(lines))


def _run_dir(ckpt: Path) -> Path:
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def memorization_lines(ckpt: Path, config: dict) -> list[str]:
    """What is known of copies of the training images: the latest in-training check (``memorized_share`` in
    the run's metrics.jsonl) and the newest ``fromnoise evaluate --memorization`` (an eval.json under the run)."""
    run_dir, lines = _run_dir(ckpt), []
    last = None
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            if isinstance(rec, dict) and "memorized_share" in rec:
                last = rec
    if last is not None:
        n = (config.get("training") or {}).get("memorization_samples", "?")
        lines.append(f"memorized    {last['memorized_share']:.1%} of {n} samples at step {last.get('step', '?')} "
                     "(in training; pixels, nearest training image < 1/3 of the second nearest)")
    evals = []
    for path in run_dir.glob("**/eval.json"):
        try:
            section = json.loads(path.read_text()).get("memorization")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(section, dict) and isinstance(section.get("spaces"), dict):
            evals.append((path.stat().st_mtime, path, section["spaces"]))
    if evals:
        _, path, spaces = max(evals, key=lambda e: e[0])
        parts = [f"{r['flagged_share']:.1%} of {r['n_samples']} ({space})" for space, r in spaces.items()
                 if isinstance(r, dict) and "flagged_share" in r]
        if parts:
            lines.append(f"memorized    {', '.join(parts)} by fromnoise evaluate --memorization ({path})")
    return lines


def check_weights(ckpt: Path, denoiser) -> None:
    """Check every weights file of a checkpoint against the architecture its config describes.

    Reads only the safetensors headers (names and shapes, no tensor data), so ``info`` stays fast;
    a truncated or corrupt file, or weights of another architecture, is a UserError naming the file.
    """
    own = {k: tuple(v.shape) for k, v in denoiser.state_dict().items()}
    for name in ("model.safetensors", "ema.safetensors"):
        file = ckpt / name
        if not file.exists():
            continue
        try:
            with safe_open(str(file), "pt") as weights:
                shapes = {k: tuple(weights.get_slice(k).get_shape()) for k in weights.keys()}
        except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
            raise UserError(f"cannot read the weights '{file}' ({err}); the file is truncated or corrupt, "
                            "use another checkpoint of the run") from None
        if shapes != own:
            wrong = sorted(set(own) ^ set(shapes)) or [k for k in own if own[k] != shapes[k]]
            raise UserError(f"the weights in '{file}' do not fit the architecture in its config.json "
                            f"(e.g. {wrong[0]!r}); the config and the weights come from different models")
