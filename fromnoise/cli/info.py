"""``fromnoise info``: describe a checkpoint without generating anything."""

from __future__ import annotations

import json

import click


@click.command("info", context_settings={"show_default": True})
@click.argument("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="Print the full config as JSON.")
def info(checkpoint, as_json):
    """Config, parameter count, training steps and training data of a checkpoint."""
    from ..build import build_denoiser
    from ..models import count_parameters
    from ..training.checkpoint import list_checkpoints, read_checkpoint

    ckpt, config, state = read_checkpoint(checkpoint)
    if as_json:
        click.echo(json.dumps({"checkpoint": str(ckpt), "config": config, "trainer": {
            k: v for k, v in state.items() if k != "optimizer"}}, indent=2, default=str))
        return
    denoiser = build_denoiser(config)
    model, diff, data = config["model"], config["diffusion"], config.get("data", {})
    training = config.get("training", {})
    size = sum(p.stat().st_size for p in ckpt.iterdir()) / 1e6
    lines = [
        f"checkpoint   {ckpt} ({size:.1f} MB)",
        f"preset       {config.get('preset', '?')} ({model['arch']}), {count_parameters(denoiser) / 1e6:.2f}M parameters",
        f"images       {config['image']['channels']} x {config['image']['size']} x {config['image']['size']}",
        f"diffusion    {diff['schedule']} schedule, T = {diff['timesteps']}, {diff['prediction']}-prediction",
        f"conditioning {', '.join(config.get('conditioning') or {}) or 'none'}",
        f"trained      {state.get('step', '?')} steps, {state.get('images_seen', '?')} images seen, "
        f"batch {training.get('batch_size', '?')}, lr {training.get('lr', '?')}",
        f"data         {data.get('source', '?')} {data.get('path', '') or ''} ({data.get('n', '?')} images)",
    ]
    if "class" in (config.get("conditioning") or {}):
        lines.append(f"classes      {', '.join(config['conditioning']['class'].get('class_names', []))}")
    others = list_checkpoints(ckpt.parent.parent) if ckpt.parent.name == "checkpoints" else []
    if others:
        lines.append(f"all saved    {', '.join(p.name for p in others)}")
    click.echo("\n".join(lines))
