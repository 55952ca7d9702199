"""The body of ``fromnoise evaluate`` (the command and its options are in :mod:`fromnoise.cli.evaluate`).

Imported only when the command runs: it loads torch, the Inception network and the samplers.
"""

from __future__ import annotations

from pathlib import Path

import click
import matplotlib.pyplot as plt

from ..api import load
from ..choices import SAMPLER_NAMES, nfe
from ..data import load_dataset, unit_to_uint8
from ..errors import UserError
from ..evaluation.conditions import draw_conditions, recorded_source
from ..evaluation.inception import InceptionFeatures
from ..evaluation.memorization import (
    INCEPTION_TRAIN_LIMIT,
    RATIO,
    heldout_set,
    memorization_report,
    trained_mirrored,
    training_set,
)
from ..evaluation.reference import compare, reference_stats
from ..io import write_json
from ..sampling.generate import check_guidance, generate_across_processes
from ..viz.memorization import memorization_figure
from ..viz.plots import save_figure  # sets matplotlib's Agg backend before the first figure
from .options import process_role


def run(checkpoint, reference, dataset, split, image_size, channels, num_ref, num_samples, sampler, steps,
        guidance, seed, inception, allow_small_fid, out, batch_size, device, memorization=False,
        memorization_samples=None) -> None:
    """Cache a data set's reference statistics (``reference``), or score ``checkpoint`` against them."""
    main, dev = process_role(device)  # under accelerate launch: this process's own device
    net = InceptionFeatures(inception, device=dev)  # fails early, with the install hint, if missing
    if reference:
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
              guidance, seed, allow_small_fid, out, batch_size, dev, main, memorization, memorization_samples)


def _csv(kind, text: str) -> list:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected a comma-separated list, got '{text}'") from None


def _evaluate(checkpoint, net, dataset, split, num_ref, num_samples, samplers, steps_list, guidance, seed,
              allow_small, out, batch_size, device, main, memorization=False, memorization_samples=None) -> None:
    unknown = [s for s in samplers if s not in SAMPLER_NAMES]
    if unknown or not samplers or not steps_list or min(steps_list) < 1:
        raise UserError(f"--sampler must list names from {', '.join(SAMPLER_NAMES)} and --steps positive integers")
    denoiser = load(checkpoint, device=device)
    channels, size = int(denoiser.config["image"]["channels"]), int(denoiser.config["image"]["size"])
    dataset = dataset or recorded_source(denoiser.config)
    if not dataset:
        raise UserError("this checkpoint does not record its data set; pass --dataset NAME_OR_FOLDER")
    n_mem, train = (memorization_samples or num_samples), None
    if memorization and main:  # before any sampling: an unreachable data set or a too large N fails at once
        train = training_set(dataset, denoiser.config, limit_from_config=dataset == recorded_source(denoiser.config))
        if memorization_samples and memorization_samples > len(train):
            raise UserError(f"--memorization-samples {memorization_samples} is more than the {len(train)} training "
                            f"images of '{dataset}'; ask for at most {len(train)}")
        n_mem = min(n_mem, len(train))
    if main:  # the main process builds (and caches) the statistics; the others only need the images
        ref = reference_stats(dataset, size, channels, split=split, n=num_ref, inception=net, batch_size=batch_size)
    # a conditional model is scored on the conditions of real images (EDM: labels at the data's
    # frequencies), never on its null condition; guidance then applies
    condition, drawn = draw_conditions(denoiser, num_samples, seed=seed, dataset=dataset)
    check_guidance(denoiser, guidance, condition, option="--guidance")
    if condition is not None and main:
        click.echo(f"conditions: {_describe(drawn)}")
    rows, first = [], None
    for sampler in samplers:
        for steps in steps_list:
            images = generate_across_processes(denoiser, num_samples, sampler=sampler, steps=steps, seed=seed,
                                               guidance=guidance, condition=condition, batch_size=batch_size,
                                               progress=main)
            first = images if first is None else first
            if not main:
                continue
            scores = compare(unit_to_uint8(images), ref, inception=net, allow_small=allow_small,
                             seed=seed, batch_size=batch_size)
            rows.append({"sampler": sampler, "steps": steps, "nfe": nfe(sampler, steps), "guidance": guidance,
                         "seed": seed, "dataset": dataset, "split": split, **scores})
    if memorization and n_mem > num_samples:  # more than the FID samples: every process generates the rest
        cond_mem, _ = draw_conditions(denoiser, n_mem, seed=seed, dataset=dataset)
        first = generate_across_processes(denoiser, n_mem, sampler=samplers[0], steps=steps_list[0], seed=seed,
                                          guidance=guidance, condition=cond_mem, batch_size=batch_size,
                                          progress=main)
    if not main:
        return
    click.echo(_table(rows))
    if any(r.get("note") for r in rows):
        click.echo(rows[0].get("note") or next(r["note"] for r in rows if r.get("note")))
    out_dir = Path(out or Path(checkpoint) / "eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"checkpoint": str(checkpoint), "network": str(net.path), "conditions": drawn, "results": rows}
    if memorization:
        result["memorization"] = _memorization(unit_to_uint8(first[:n_mem]), train, dataset, denoiser.config, net,
                                               batch_size, out_dir, samplers[0], steps_list[0])
    write_json(out_dir / "eval.json", result)
    _plot(rows, out_dir / "eval.png")
    click.echo(f"Wrote {out_dir / 'eval.json'} and {out_dir / 'eval.png'}")


def _memorization(samples, train, dataset, config, net, batch_size, out_dir, sampler, steps) -> dict:
    """The memorization section of eval.json, its summary lines, and memorization.png."""
    held, held_search, note = heldout_set(dataset, config, train.images, len(samples))
    m = min(len(train), INCEPTION_TRAIN_LIMIT)  # the first m training images' features: cached as a reference
    ref = reference_stats(dataset, int(config["image"]["size"]), int(config["image"]["channels"]), split="train",
                          n=m, images_uint8=train.images[:m], inception=net, batch_size=batch_size)
    feats = ref.features if ref.features is not None and len(ref.features) == m else None
    report, neighbours = memorization_report(samples, train.images, held, held_search, inception=net,
                                             train_features=feats, batch_size=batch_size,
                                             mirrored=trained_mirrored(config))
    for space, r in report.items():
        click.echo(f"memorization ({space}): {r['flagged_share']:.1%} of {r['n_samples']} samples flagged "
                   f"(d1 < d2/3); median nearest distance {r['sample_d1']['q50']:.4g} "
                   f"vs {r['heldout_d1']['q50']:.4g} for {r['n_heldout']} held-out images")
    save_figure(memorization_figure(samples, train.images, neighbours), out_dir / "memorization.png")
    click.echo(f"Wrote {out_dir / 'memorization.png'}")
    return {"dataset": str(dataset), "sampler": sampler, "steps": steps, "ratio": RATIO, "heldout": note,
            "spaces": report}


def _plot(rows: list[dict], path: Path) -> None:
    """FID and KID against NFE, one line per sampler."""
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
