"""``fromnoise info``: describe a checkpoint without generating anything."""

from __future__ import annotations

import click


@click.command("info", context_settings={"show_default": True})
@click.argument("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="Print the full config as JSON.")
def info(checkpoint, as_json):
    """Config, parameter count, training steps and training data of a checkpoint."""
    from .info_run import run  # deferred: it builds the network, which imports torch

    run(checkpoint, as_json)
