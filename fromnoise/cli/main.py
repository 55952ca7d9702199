"""The ``fromnoise`` console command.

Sub-commands live in their own modules under ``fromnoise.cli`` and are imported
only when called, so ``fromnoise --help`` stays fast (torch is not imported).
A :class:`fromnoise.errors.UserError` anywhere below becomes one ``Error:``
line and exit status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import UserError

# name -> (module, attribute, one-line help shown in `fromnoise --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("fromnoise.cli.train", "train", "Train a diffusion model on a dataset or an image folder."),
    "train-autoencoder": ("fromnoise.cli.train_autoencoder", "train_autoencoder",
                          "Train the autoencoder of latent diffusion from scratch on an image folder."),
    "sample": ("fromnoise.cli.sample", "sample", "Generate images from a checkpoint (grid, PNGs, denoising GIF)."),
    "visualize": ("fromnoise.cli.visualize", "visualize", "Show the forward noising process on dataset images."),
    "info": ("fromnoise.cli.info", "info", "Describe a checkpoint: config, size, steps, data."),
    "features": ("fromnoise.cli.features", "features", "Measure the 32 visual features of an image folder."),
    "evaluate": ("fromnoise.cli.evaluate", "evaluate", "FID / KID of a checkpoint against a dataset, offline."),
    "evaluate-features": ("fromnoise.cli.evaluate_features", "evaluate_features",
                          "Feature fidelity of a feature-conditioned checkpoint."),
    "posthoc-ema": ("fromnoise.cli.posthoc_ema", "posthoc_ema",
                    "Rebuild a run's EMA for any averaging length from its snapshots (EDM2's post-hoc EMA)."),
    "serve": ("fromnoise.cli.serve", "serve", "The web page: generate, learn, train and browse runs (Gradio)."),
}
# The reference documents' own command names (001: sample.py, 002: main.py inference).
ALIASES = {"inference": "sample", "generate": "sample"}


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when it runs."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        name = ALIASES.get(name, name)
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as err:  # an optional extra that is not installed
            if err.name and err.name.startswith("fromnoise"):
                raise
            raise click.ClickException(
                f"'fromnoise {name}' needs the package '{err.name}': pip install {err.name}") from None

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as err:  # a stop by a signal has its own prefix and exit status (130, 143)
            click.secho(f"{getattr(err, 'prefix', 'Error')}: {err}", fg="red", err=True)
            sys.exit(getattr(err, "exit_code", 2))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="fromnoise")
def cli():
    """fromnoise: train image diffusion models from scratch on your own images.

    \b
    Quick start (CPU, about 10 minutes):
      fromnoise train --dataset fashion-mnist --preset fashion --minutes 10 --out runs/fashion
      fromnoise sample runs/fashion --num-images 64 --show-intermediate
    """
    # File names need not be UTF-8 (POSIX names are bytes): print such bytes as \xe9 escapes
    # instead of failing with UnicodeEncodeError (stderr already does so; stdout does not).
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    cli()
