"""``fromnoise serve``: the web page (Generate, Learn, Train, Runs) on 127.0.0.1."""

from __future__ import annotations

import click

from .options import pick_device


@click.command("serve", context_settings={"show_default": True})
@click.argument("runs", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--runs", "runs_dir", default="runs", type=click.Path(file_okay=False),
              help="Directory scanned for runs (two levels deep); the Train tab writes its runs here.")
@click.option("--data-root", "data_roots", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="A directory whose folders the Train tab may train on (repeatable; none: training is off).")
@click.option("--host", default="127.0.0.1", help="Address to listen on; anything but loopback needs --allow-remote.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, help="Port to listen on.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host other than 127.0.0.1 (anyone who reaches it can generate and train here).")
@click.option("--device", default="auto", help="cpu, cuda, or auto.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120.0,
              help="Seconds one generation may wait for its model and run before it is stopped.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4,
              help="Generations running at once over all models (each model runs one at a time).")
@click.option("--max-queue", type=click.IntRange(1, 10000), default=64, help="Requests that may wait in the queue.")
def serve(runs, runs_dir, data_roots, host, port, allow_remote, device, timeout, concurrency, max_queue):
    """Serve the web page: generate with every control, watch models learn, train from a folder.

    \b
    Examples:
      fromnoise serve                                  # every run under ./runs
      fromnoise serve runs/fashion runs/fm-class       # these runs
      fromnoise serve --data-root ~/pictures           # and train on folders under ~/pictures
    """
    from ..web.app import build_app, check_host, launch

    check_host(host, allow_remote)  # before anything slow
    demo = build_app(runs, runs_dir, data_roots, device=pick_device(device), timeout=timeout,
                     concurrency=concurrency)
    launch(demo, host, port, allow_remote=allow_remote, max_queue=max_queue)
