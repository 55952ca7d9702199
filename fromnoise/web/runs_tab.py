"""The Runs tab: what a run directory holds, read from the files every run writes.

Loss plot (``metrics.jsonl``, with the in-training memorized share on a second axis when it was
measured), sample grids over time (``samples/step_*.png``), metrics (the last
logged values, in-training KID from ``best/best.json``, FID/KID from ``eval/eval.json`` written by
``fromnoise evaluate``), the config of the latest checkpoint and the list of checkpoints.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..checkpoint import list_checkpoints
from ..training.logging import RunLogger
from .common import page_errors
from .train_tab import run_loss_figure


def sample_grids(run_dir: str | Path, limit: int = 24) -> list[tuple[str, str]]:
    """(path, "step N") of the run's sample grids, oldest first, at most ``limit`` spread over the run."""
    files = sorted((Path(run_dir) / "samples").glob("step_*.png"))
    if len(files) > limit:
        picks = {round(i * (len(files) - 1) / (limit - 1)) for i in range(limit)}
        files = [f for i, f in enumerate(files) if i in picks]
    return [(str(f), f"step {int(f.stem.split('_')[1])}") for f in files]


def _last_metrics(run_dir: Path) -> dict:
    last: dict = {}
    path = run_dir / "metrics.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                last.update(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill
                continue
    return last


def metrics_markdown(run_dir: str | Path) -> str:
    """The run's numbers as Markdown: last logged values, best in-training KID, evaluations."""
    run_dir = Path(run_dir)
    last = _last_metrics(run_dir)
    lines = []
    if last:
        keys = [k for k in ("step", "loss", "pseudo_acc", "lr", "images_per_s", "epoch", "kid", "kid_std",
                            "memorized_share") if k in last]
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
                  "| " + " | ".join(f"{last[k]:.4g}" if isinstance(last[k], float) else str(last[k]) for k in keys)
                  + " |"]
    best = run_dir / "best" / "best.json"
    if best.exists():
        b = json.loads(best.read_text())
        lines.append(f"\nbest in-training KID {b.get('kid', float('nan')):.5f} ± {b.get('kid_std', 0):.5f} at step "
                     f"{b.get('step')} (N = {b.get('n')}), kept in {best.parent}")
    evals = sorted(run_dir.glob("**/eval.json"))
    for e in evals:
        try:
            rows = json.loads(e.read_text()).get("results", [])
        except (OSError, json.JSONDecodeError):
            continue
        lines.append(f"\n**{e.relative_to(run_dir)}**\n\n| sampler | steps | FID | KID |\n|---|---|---|---|")
        for r in rows:
            fid, kid = r.get("fid"), r.get("kid")
            lines.append(f"| {r.get('sampler')} | {r.get('steps')} | "
                         f"{'—' if fid is None else f'{fid:.2f}'} | {'—' if kid is None else f'{kid:.4f}'} |")
    return "\n".join(lines) or "No metrics logged yet."


def with_memorization(fig, run_dir: str | Path):
    """The loss figure with the memorized share of the in-training checks (``memorized_share`` in
    ``metrics.jsonl``, issue 25) on a second axis, in percent; unchanged when none was logged."""
    if fig is None or not (Path(run_dir) / "metrics.jsonl").exists():
        return fig
    steps, shares = RunLogger(run_dir).read("memorized_share")
    if steps:
        ax = fig.axes[0].twinx()
        ax.plot(steps, [100 * v for v in shares], "o-", color="C3", lw=1.5, label="memorized share (%)")
        ax.set_ylabel("samples memorized (%)", color="C3")
        ax.set_ylim(0, max(10.0, 110 * max(shares)))
        ax.legend(loc="upper center")
    return fig


def checkpoint_rows(run_dir: str | Path) -> list[list]:
    """[step, size in MB, written at, path] per complete checkpoint, newest first."""
    rows = []
    for c in reversed(list_checkpoints(run_dir)):
        size = sum(f.stat().st_size for f in c.iterdir() if f.is_file()) / 1e6
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c.stat().st_mtime))
        rows.append([int(c.name.split("_")[1]), round(size, 2), when, str(c)])
    return rows


def latest_config(run_dir: str | Path) -> dict:
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        return {}
    return json.loads((ckpts[-1] / "config.json").read_text())


# ------------------------------------------------------------------------------------- page
def build(ctx, model_box):
    """Lay out the Runs tab and wire its events (it follows the model chosen at the top)."""
    import gradio as gr

    show = gr.Button("Show this run", elem_id="runs-show")
    with gr.Row():
        loss = gr.Plot(label="training loss", format="png", elem_id="runs-loss")
        metrics = gr.Markdown("", elem_id="runs-metrics")
    grids = gr.Gallery(label="sample grids during training", columns=6, height=260, elem_id="runs-grids",
                       format="png")
    with gr.Row():
        checkpoints = gr.Dataframe(headers=["step", "MB", "written", "path"], label="checkpoints",
                                   interactive=False, elem_id="runs-checkpoints")
        config = gr.JSON(label="config of the latest checkpoint", elem_id="runs-config")

    def on_show(name):
        if not name:
            return None, "No run found yet.", [], [], {}
        path = page_errors(ctx.store.path, name)
        return (with_memorization(run_loss_figure(path), path), metrics_markdown(path), sample_grids(path),
                checkpoint_rows(path), latest_config(path))

    outs = [loss, metrics, grids, checkpoints, config]
    show.click(on_show, model_box, outs, api_name="run_info")
    model_box.change(on_show, model_box, outs, api_visibility="private")
    ctx.on_load.append((on_show, [model_box], outs))
