"""The page of ``fromnoise serve``: one Gradio Blocks app, one module per tab.

    Generate  generate_tab.py  controls that follow the model's conditioning, streamed x0 previews
                               (its work, shared with the /sample API: generate_work.py)
    Learn     learn_tab.py     forward process, reverse animation, attention maps, embeddings
    Train     train_tab.py     ``fromnoise train`` as a separate process, watched and stoppable
    Runs      runs_tab.py      loss, sample grids, metrics, config and checkpoints of a run

Every tab calls the public API (``fromnoise.load``, ``fromnoise.generate``, the request builder
``fromnoise.conditioning.request.build_condition``, the CLI for training); no tab has a code path
of its own for what the library does. A :class:`fromnoise.errors.UserError` becomes a
``gr.Error`` with the same sentence, shown on the page, never a traceback.

Nothing here reaches the internet: Gradio's analytics and version check are off, the share
tunnel is never opened, server-side rendering (a Node server) is off, the Hugging Face hub is
offline, and the page listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads these at import and at Blocks() time.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # no usage analytics, no version check (api.gradio.app)
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",                # text encoders load from local folders only
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_SSR_MODE": "False",           # no Node server
    "GRADIO_MCP_SERVER": "False",
}
os.environ.update(OFFLINE_ENV)

import tempfile  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

from ..errors import UserError  # noqa: E402
from . import generate_tab, learn_tab, runs_tab, train_tab  # noqa: E402
from .models import ModelStore  # noqa: E402

LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSS = """
#preview img, #gallery img, #forward-image img, .pixelated img { image-rendering: pixelated; }
#init-image img, #inpaint-mask img, #interp-gif img { min-height: 112px; object-fit: contain; }
"""


@dataclass
class Context:
    """What the tabs share."""

    store: ModelStore
    runs_dir: Path | None = None
    data_roots: list[Path] = field(default_factory=list)
    timeout: float = 120.0           # seconds a generation may wait + run
    concurrency: int = 4             # generations running at once (each model: one at a time)
    tmp: str = ""                    # where generated PNGs are written (served by gradio)
    on_load: list = field(default_factory=list)  # (fn, inputs, outputs) run when a page opens
    jobs: object = None              # train_tab.TrainJobs


def build_app(runs=(), runs_dir: str | Path | None = "runs", data_roots=(), *, device: str = "cpu",
              timeout: float = 120.0, concurrency: int = 4):
    """The ``gr.Blocks`` page (not launched). ``runs``: run directories; ``runs_dir``: where to find
    more and where the Train tab writes; ``data_roots``: the only folders training may read."""
    import gradio as gr

    store = ModelStore(runs, runs_dir, device=device)
    tmp = tempfile.mkdtemp(prefix="fromnoise-web-")
    ctx = Context(store, Path(runs_dir) if runs_dir else None, [Path(d) for d in data_roots], float(timeout),
                  int(concurrency), tmp)
    ctx.jobs = train_tab.TrainJobs(ctx.runs_dir, ctx.data_roots)
    names = store.names()
    with gr.Blocks(title="fromnoise", analytics_enabled=False) as demo:
        gr.Markdown("## fromnoise: diffusion models trained from scratch\n"
                    "Generate with control, watch the denoising, train on your own folder, and look inside.")
        with gr.Row():
            model_box = gr.Dropdown(names, value=names[0] if names else None, label="model (a run directory)",
                                    elem_id="model", scale=4)
            refresh = gr.Button("Refresh the list of runs", elem_id="refresh", scale=1)
        with gr.Tabs():
            with gr.Tab("Generate", id="generate"):
                generate_tab.build(ctx, model_box)
            with gr.Tab("Learn", id="learn"):
                learn_tab.build(ctx, model_box)
            with gr.Tab("Train", id="train"):
                train_tab.build(ctx)
            with gr.Tab("Runs", id="runs"):
                runs_tab.build(ctx, model_box)

        def on_refresh(current):
            found = store.refresh()
            return gr.update(choices=found, value=current if current in found else (found[0] if found else None))

        refresh.click(on_refresh, model_box, model_box, api_visibility="private")
        for fn, inputs, outputs in ctx.on_load:
            demo.load(fn, inputs, outputs, api_visibility="private")
    demo.fromnoise = ctx
    return demo


def check_host(host: str, allow_remote: bool) -> bool:
    """True when ``host`` is not loopback (the caller warns); a UserError unless that was allowed."""
    if host in LOOPBACK:
        return False
    if not allow_remote:
        raise UserError(f"--host {host} would let other machines reach the page (and train and generate on this "
                        "one); pass --allow-remote as well if that is what you want, or keep --host 127.0.0.1")
    return True


def launch(demo, host: str = "127.0.0.1", port: int | None = None, *, allow_remote: bool = False,
           block: bool = True, quiet: bool = False, max_queue: int = 64):
    """Start the server (Gradio's queue: ``max_queue`` waiting requests); returns (app, local_url)."""
    remote = check_host(host, allow_remote)
    if remote:
        import sys

        print(f"Warning: fromnoise serve is listening on {host}: anyone who can reach this machine on that "
              "address can use the page, generate and train here.", file=sys.stderr)
    ctx = demo.fromnoise
    allowed = [str(p.resolve()) for p in ctx.store.explicit] + ([str(ctx.runs_dir.resolve())] if ctx.runs_dir else [])
    demo.queue(max_size=max_queue, default_concurrency_limit=ctx.concurrency)
    app, url, _ = demo.launch(server_name=host, server_port=port, share=False, ssr_mode=False, mcp_server=False,
                              prevent_thread_lock=not block, quiet=quiet, show_error=False, css=CSS,
                              allowed_paths=allowed, footer_links=["api"], run_history=False,
                              max_file_size="20mb")
    return app, url
