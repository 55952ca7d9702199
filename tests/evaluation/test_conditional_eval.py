"""Evaluation of conditional models: real conditions at the data's frequencies, guidance applied,
what was drawn recorded; generate() refuses guidance without a condition."""

import importlib
import json
from collections import Counter

import pytest
import torch
from PIL import Image

import fromnoise
from fromnoise.errors import UserError
from fromnoise.evaluation.conditions import conditions_from_tables, draw_conditions
from tests.cli_runner import run


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    """A class-conditional micro model on a folder with 3 'big' images for every 'small' one."""
    tmp = tmp_path_factory.mktemp("cls")
    root = tmp / "imgs"
    for cls, count, side in (("big", 12, 6), ("small", 4, 2)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            img = Image.new("L", (8, 8), 0)
            img.paste(255, (i % 3, 0, i % 3 + side, side))
            img.save(root / cls / f"{i}.png")
    out = tmp / "run"
    run("train", "--dataset", root, "--image-size", 8, "--channels", 1, "--preset", "micro", "--condition", "class",
        "--steps", 2, "--batch-size", 4, "--out", out, "--no-progress")
    return root, out


def test_generate_refuses_guidance_without_a_condition(class_run):
    d = fromnoise.load(class_run[1])
    with pytest.raises(UserError, match="needs a condition"):
        fromnoise.generate(d, 2, steps=2, guidance=3.0)
    fromnoise.generate(d, 2, steps=2, guidance=3.0, condition={"labels": torch.tensor([0, 1])})


def test_classes_are_drawn_at_the_training_frequencies(class_run):
    d = fromnoise.load(class_run[1])
    cond, record = draw_conditions(d, 4000, seed=1)
    names = d.encoders["class"].class_names
    counts = Counter(names[i] for i in cond["labels"].tolist())
    assert abs(counts["big"] / 4000 - 0.75) < 0.03, counts  # 12 of 16 images are "big"
    assert record["class_counts"] == dict(sorted(counts.items(), key=lambda kv: names.index(kv[0])))
    again, _ = draw_conditions(d, 4000, seed=1)
    assert torch.equal(cond["labels"], again["labels"])  # seeded


def test_unconditional_model_draws_nothing(tmp_path):
    d = fromnoise.build_model("micro", image_size=8, channels=1)
    assert draw_conditions(d, 5) == (None, {"drawn": "none (unconditional)"})
    assert conditions_from_tables({}, 5)[0] is None


def test_rows_from_training_tables():
    tables = {"labels": torch.tensor([0, 0, 0, 1]), "features": torch.arange(8.0).view(4, 2)}
    cond, record = conditions_from_tables(tables, 1000, seed=0)
    assert cond["labels"].shape == (1000,) and cond["features"].shape == (1000, 2)
    # the rows stay together: label 1 only with the 4th image's features
    assert torch.all((cond["labels"] == 1) == (cond["features"][:, 0] == 6.0))
    assert abs(record["label_counts"]["0"] / 1000 - 0.75) < 0.05


def test_evaluate_uses_conditions_and_guidance(class_run, tmp_path, monkeypatch):
    """evaluate passes real conditions and --guidance to generate(), and eval.json says what was drawn."""
    root, out = class_run
    gen = importlib.import_module("fromnoise.sampling.generate")  # the module (the package exports the function)

    seen = {}
    real = gen.generate

    def spy(denoiser, n, **kw):
        seen.update(kw, n=n)
        return real(denoiser, n, **kw)

    monkeypatch.setattr(gen, "generate", spy)  # evaluate reaches it through generate_across_processes
    monkeypatch.setenv("FROMNOISE_FID_CACHE", str(tmp_path / "fid-cache"))
    result = run("evaluate", out, "--dataset", root, "-n", 8, "--steps", 2, "--guidance", 3, "--out", tmp_path / "ev",
                 "--batch-size", 8)
    assert "conditions: 8 drawn from" in result.output
    assert seen["guidance"] == 3 and seen["condition"]["labels"].shape == (8,)
    doc = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert doc["conditions"]["kinds"] == ["class"] and sum(doc["conditions"]["class_counts"].values()) == 8
    assert doc["results"][0]["guidance"] == 3
