"""The flagship recipe screen's rows (bench/flagship_recipe.py) and the memorization bench's table of runs
stopped early (bench/bench_memorization.py --from-metrics)."""

from __future__ import annotations

import json

import pytest

from bench import bench_memorization, flagship_recipe
from fromnoise.models import get_preset


def test_rows_start_from_the_presets_suggestions_bench_is_the_presets_recipe_now():
    defaults = get_preset("youandme-patch").defaults
    recipe = flagship_recipe.row_settings("recipe")  # fashion's recipe, which the preset carried before
    assert (recipe["lr_decay"], recipe["t_sampling"], recipe["ema_std"]) == ("cosine", "lognormal", 0.05)
    assert recipe["batch_size"] == defaults["batch_size"] == 16 and recipe["lr"] == defaults["lr"]
    bench = flagship_recipe.row_settings("bench")  # what bench_latent's runs trained: TrainingConfig's defaults
    assert (bench["lr_decay"], bench["t_sampling"], bench["ema_std"]) == ("none", "uniform", None)
    # the screen's winner is the preset's own recipe (what fromnoise train and make art fill in)
    assert all(defaults[k] == bench[k] for k in ("lr_decay", "t_sampling", "ema_std", "batch_size", "lr"))
    slim = flagship_recipe.row_settings("slim")  # a row on `bench`: its settings plus its own change
    assert slim["model"] == {"channels": (48, 96, 192, 192)} and slim["lr_decay"] == "none"
    assert flagship_recipe.row_settings("maskdrop0.3")["mask_dropout"] == 0.3
    # every row trains the network and condition dropout the preset had when it was screened, not today's preset
    assert (bench["model"], bench["condition_dropout"]) == ({"channels": (64, 128, 256, 256)}, 0.1)
    assert recipe["model"] == bench["model"] and recipe["condition_dropout"] == 0.1
    assert flagship_recipe.row_settings("deep")["model"] == {"channels": (64, 128, 256, 256), "num_res_blocks": 2}
    both = flagship_recipe.row_settings("slim-drop0")  # on slim: its width and its own change
    assert both["model"] == slim["model"] and both["condition_dropout"] == 0.0 and both["lr_decay"] == "none"
    assert flagship_recipe.describe("recipe@0.1") == ("recipe", "post-hoc EMA sigma_rel 0.1")
    with pytest.raises(SystemExit, match="unknown row 'wider'"):
        flagship_recipe.row_settings("wider")


def test_the_benches_train_what_fromnoise_train_fills_in_and_both_flagships_suggest_the_plain_recipe(monkeypatch,
                                                                                                      tmp_path):
    """bench_latent's runs take every suggestion fromnoise train takes from the preset (not only batch and lr:
    until stop 34 they left the recipe out, so the CLI trained something else than the benches measured)."""
    from types import SimpleNamespace

    from bench import bench_latent
    from fromnoise.cli import train_run

    seen = {}
    monkeypatch.setattr(train_run, "run_training", lambda data, training, **kw: seen.update(kw, training=training))
    a = SimpleNamespace(minutes=0.1, prediction=None)
    bench_latent._train_diffusion(a, tmp_path, tmp_path / "run", "youandme-patch", None)
    assert seen["auto"] == train_run.AUTO_FIELDS
    bench_latent._train_diffusion(a, tmp_path, tmp_path / "run", "youandme-patch", None, training={"lr": 1e-4})
    assert seen["auto"] == train_run.AUTO_FIELDS - {"lr"} and seen["training"].lr == 1e-4
    for name in ("youandme-patch", "youandme-latent"):
        d = get_preset(name).defaults
        assert (d["lr_decay"], d["t_sampling"], d["ema_std"]) == ("none", "uniform", None), name
    # the patch flagship trains without condition dropout (flagship_recipe.py's slim-drop0), the latent one with it
    assert get_preset("youandme-patch").defaults["condition_dropout"] == 0.0
    assert "condition_dropout" not in get_preset("youandme-latent").defaults


def test_the_table_names_the_row_that_meets_more_goals():
    def row(name, kid, colour):
        return {"row": name, "steps": 10, "cpu_minutes": 1.0, "kid": kid, "n_heldout": 4, "mask_outside_share": 0.01,
                "color_r": colour, "lighting_r": 0.85, "material_r": 0.5, "shape_r": 0.5, "topology_r": 0.5,
                "grid": "g.png"}

    rows = [row("bench", 0.04, 0.5), row("recipe", 0.045, 0.95)]  # 3 of 7 goals (lighting, mask, KID) and 4
    rows[1]["load"] = [3.84, 3.12]  # the load while the row trained (rows of two runs share one table)
    assert flagship_recipe.winner(rows)["row"] == "recipe"
    assert flagship_recipe.winner([rows[0], row("recipe", 0.06, 0.95)])["row"] == "bench"  # 3 and 3: lower KID
    text = flagship_recipe.table(rows)
    assert "| recipe |  | t_sampling=lognormal, lr_decay=cosine, ema_std=0.05 |" in text
    assert "| 0.950 | 0.850 |" in text and "| 4: color, lighting, outside mask, KID |  | 3.8-3.1 |" in text


def test_a_change_beats_the_row_it_builds_on_with_more_goals_or_on_most_measures():
    base = {"row": "bench", "steps": 10, "kid": 0.045, "mask_outside_share": 0.008, "color_r": 0.715,
            "lighting_r": 0.799, "material_r": 0.759, "shape_r": 0.782, "topology_r": 0.537}
    # attn4 as measured: KID 0.001 lower and colour a little higher, the other four lower; goals 2 and 2
    attn4 = dict(base, row="attn4", kid=0.044, color_r=0.723, lighting_r=0.787, material_r=0.746, shape_r=0.775,
                 topology_r=0.483)
    assert flagship_recipe.better_on(attn4, base) == ["kid", "color_r"]
    assert not flagship_recipe.beats(attn4, base)
    better4 = dict(attn4, lighting_r=0.799 + 1e-3, material_r=0.76)  # better on 4 of 6
    assert flagship_recipe.beats(better4, base)
    more_goals = dict(base, row="slim", lighting_r=0.81, kid=0.05, color_r=0.7, material_r=0.7)  # 3 goals, 1 better
    assert flagship_recipe.better_on(more_goals, base) == ["lighting_r"] and flagship_recipe.beats(more_goals, base)
    verdicts = flagship_recipe.verdicts([base, attn4, dict(better4, row="slim")])
    assert verdicts == {"attn4": "no: better on 2 of 6 (kid, color)", "slim": "yes: better on 4 of 6 (kid, color, "
                                                                               "lighting, material)"}
    assert "| no: better on 2 of 6 (kid, color) |" in flagship_recipe.table([base, attn4])
    # slim-drop0 builds on slim; without slim in the table it is judged against bench, on which slim builds
    both = dict(better4, row="slim-drop0")
    assert flagship_recipe.verdicts([base, both]) == {"slim-drop0": "yes (against bench): better on 4 of 6 (kid, "
                                                                    "color, lighting, material)"}


def test_from_metrics_tables_the_points_each_stopped_run_reached(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_memorization, "WORK", tmp_path)
    setup = bench_memorization.clipart_setup(32)
    for tag, run, d1 in (("a", "plain", 3.0), ("b", "augment0.15", 9.0)):
        folder = tmp_path / f"{setup.work}_{tag}" / f"effect_{run}"
        folder.mkdir(parents=True)
        lines = [{"step": 50, "loss": 0.3}, {"step": 100, "memorized_share": 0.25, "memorized_d1": d1},
                 {"step": 100, "kid": 0.1, "kid_std": 0.01}, {"step": 150, "loss": 0.2},
                 {"step": 200, "memorized_share": 0.5, "memorized_d1": d1 / 2}]  # its KID was never logged
        (folder / "metrics.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    out = bench_memorization.from_metrics(setup, ["a", "b"], n_train=320, what="side by side")
    batch = get_preset(setup.preset).defaults["batch_size"]
    assert out["runs"]["plain"] == [{"step": 100, "epochs": round(100 * batch / 320), "memorized_share": 0.25,
                                     "memorized_d1": 3.0, "kid": 0.1, "kid_std": 0.01}]
    assert out["runs"]["augment0.15"][0]["memorized_d1"] == 9.0
    assert out["what"] == "side by side; stopped at steps plain 200, augment0.15 200"
    with pytest.raises(SystemExit, match="no effect run under"):
        bench_memorization.from_metrics(setup, ["missing"], n_train=320, what="")


def test_the_clip_art_memorization_runs_keep_the_recipe_they_were_measured_with(tmp_path):
    """youandme-latent now suggests the plain settings; the memorization bench's clip-art runs (recorded with
    fashion's recipe, which the preset suggested then) keep training with fashion's recipe."""
    from fromnoise.models.presets import RECIPE

    opt = bench_memorization.options(bench_memorization.clipart_setup(32), tmp_path, 8, 4, 0.0)
    assert (opt.lr_decay, opt.t_sampling, opt.ema_std) == (RECIPE["lr_decay"], RECIPE["t_sampling"], RECIPE["ema_std"])
    assert opt.batch_size == get_preset("youandme-latent").defaults["batch_size"]
    fashion = bench_memorization.options(bench_memorization.FASHION, tmp_path, 8, 4, 0.0)
    assert fashion.lr_decay == get_preset("fashion").defaults["lr_decay"]


def test_the_copier_kid_scores_training_images_as_the_samples_are_scored():
    """copier_kid: the KID of training images themselves against the held-out reference; images from the
    reference's distribution score ~0, images from another one do not."""
    from types import SimpleNamespace

    import numpy as np
    import torch

    from fromnoise.evaluation import FeatureStats

    rng = np.random.default_rng(0)
    held = rng.normal(size=(200, 8))
    ref = FeatureStats.from_features(held, meta={})

    def inception(images, batch_size=64, progress=False):
        return images.flatten(1).double().numpy()

    same = SimpleNamespace(images=torch.from_numpy(rng.normal(size=(150, 8, 1, 1))))  # features as "images"
    other = SimpleNamespace(images=torch.from_numpy(rng.normal(size=(150, 8, 1, 1)) + 1.5))
    near = bench_memorization.copier_kid(inception, same, ref, 100)
    far = bench_memorization.copier_kid(inception, other, ref, 100)
    assert abs(near["kid"]) < 0.05 < far["kid"] and near["n"] == 100


def test_the_evaluation_keeps_every_features_r_as_json_with_undefined_r_as_none():
    import math

    import pandas as pd

    from bench.bench_latent import _as_json

    table = pd.DataFrame({"group": ["topology", "topology"], "r": [0.25, math.nan], "mae": [0.1, 0.2]},
                         index=["euler_char", "genus"])
    assert _as_json(table) == {"euler_char": {"r": 0.25, "mae": 0.1}, "genus": {"r": None, "mae": 0.2}}
