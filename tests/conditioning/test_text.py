"""Text conditioning: captions, the embedding cache, SharedRows, errors, and class/text end to end."""

import numpy as np
import pytest
import torch
from PIL import Image

import fromnoise
from fromnoise.build import make_config
from fromnoise.conditioning.cache import cache_path
from fromnoise.conditioning.captions import fill_template, plural, training_captions
from fromnoise.conditioning.request import build_condition
from fromnoise.conditioning.tables import batch_condition, setup_condition
from fromnoise.conditioning.text import SharedRows, TextEncoder, embed_texts, setup_text
from fromnoise.data import ImageData, load_dataset
from fromnoise.errors import UserError
from fromnoise.sampling import generate
from fromnoise.training import Trainer, TrainOptions


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMNOISE_CACHE", str(tmp_path / "cache"))


def test_templates_and_captions_file():
    assert fill_template("a photo of a {class}", "Ankle boot") == "a photo of an ankle boot"
    assert fill_template("Draw a {}", "six") == "Draw a six"
    assert fill_template("Draw a {class}", "one") == "Draw a one"  # by sound, not by letter
    assert fill_template("Draw a {class}", "eight") == "Draw an eight"
    assert fill_template("an image of a {class}", "Umbrella") == "an image of an umbrella"
    with pytest.raises(UserError, match="placeholder"):
        fill_template("a photo", "cat")
    # {classes}: the plural, by the regular English rules, on each alternative of "a/b" names
    assert fill_template("photos of {classes}", "Ankle boot") == "photos of ankle boots"
    assert fill_template("{classes}", "T-shirt/top") == "t-shirts or tops"
    assert [plural(w) for w in ("dress", "sandal", "butterfly", "day", "six", "trousers", "bus")] == \
        ["dresses", "sandals", "butterflies", "days", "sixes", "trousers", "buses"]
    data = ImageData(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 1]), ["cat", "owl"],
                     captions=["a striped cat", "", "a snowy owl"])
    # the captions file wins; an image it leaves out falls back to its class name
    assert training_captions(data, "a photo of a {class}") == ["a striped cat", "a photo of an owl", "a snowy owl"]
    # by default a class's images take the singular and the plural in turn
    shoes = ImageData(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 0, 0]), ["Sandal"])
    assert training_captions(shoes) == ["a photo of a sandal", "a photo of sandals", "a photo of a sandal"]
    bare = ImageData(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(UserError, match="captions"):
        training_captions(bare)


def test_shared_rows_equal_dense_rows():
    bank, ids = torch.randn(3, 5, 2), torch.tensor([2, 0, 0, 1, 2, 1])
    rows = SharedRows(bank, ids)
    idx = torch.tensor([5, 0, 3])
    assert torch.equal(rows.index_select(0, idx), bank[ids][idx])
    assert rows.shape == (6, 5, 2) and len(rows) == 6
    assert torch.equal(batch_condition({"x": rows}, idx)["x"], bank[ids[idx]])


def test_token_dropout_keeps_the_pooled_embedding_and_only_acts_in_training():
    torch.manual_seed(0)
    enc = TextEncoder(emb_dim=8, context_dim=8, pooled_dim=6, token_dim=6, max_tokens=3, token_dropout=0.3)
    n = 4000
    cond = {"text_pooled": torch.randn(n, 6), "text_tokens": torch.randn(n, 3, 6),
            "text_mask": torch.ones(n, 3, dtype=torch.bool)}
    drop = torch.zeros(n, dtype=torch.bool)
    drop[:400] = True  # condition dropout: these rows are null whatever token dropout does
    enc.train()
    emb, ctx = enc.encode(cond, drop)
    null_ctx = (ctx == enc.null_tokens).all(-1).all(-1)
    null_emb = (emb == enc.null_emb).all(-1)
    assert null_ctx[:400].all() and null_emb[:400].all()
    assert abs(null_ctx[400:].float().mean().item() - 0.3) < 0.03  # tokens dropped at the configured rate
    assert not null_emb[400:].any()                                  # the pooled embedding always kept
    enc.eval()  # sampling: every row keeps its tokens
    _, ctx = enc.encode(cond, torch.zeros(n, dtype=torch.bool))
    assert not (ctx == enc.null_tokens).all(-1).all(-1).any()
    assert TextEncoder(**enc.config()).token_dropout == 0.3
    with pytest.raises(UserError, match="token_dropout"):
        TextEncoder(token_dropout=1.0)


def test_cached_embeddings_equal_recomputed(tmp_path):
    texts = ["a photo of a sneaker", "Draw a six", "a picture of a boot"]
    first = embed_texts(texts, max_tokens=8)              # computed, written to the cache
    assert cache_path("all-MiniLM-L6-v2", 8, texts).exists()
    cached = embed_texts(texts, max_tokens=8)             # read back
    fresh = embed_texts(texts, max_tokens=8, cache=False)  # recomputed
    for key in ("pooled", "tokens", "mask"):
        assert torch.equal(first[key], fresh[key]) and torch.equal(cached[key], fresh[key])
    assert fresh["pooled"].shape == (3, 384) and fresh["tokens"].shape == (3, 8, 384)
    assert torch.allclose(fresh["pooled"].norm(dim=1), torch.ones(3), atol=1e-5)
    # padding is masked and zero; "Draw a six" is [CLS] draw a six [SEP]
    assert fresh["mask"][1].sum() == 5 and fresh["tokens"][1, 5:].abs().sum() == 0
    # a paraphrase is nearer to its own class than to another class
    p = fresh["pooled"]
    boot = embed_texts(["a photo of an ankle boot"], max_tokens=8)["pooled"][0]
    assert p[2] @ boot > p[0] @ boot


def write_reference003_folder(root, per_class=4):
    """A folder of class_index.png files (reference 003's layout): bright squares 'six', dark 'two'."""
    root.mkdir()
    for name, value in (("six", 230), ("two", 20)):
        for i in range(per_class):
            Image.fromarray(np.full((16, 16), value, np.uint8)).save(root / f"{name}_{i}.png")
    return root


def tiny_run(tmp_path, data, kind, tables_kw=None):
    kwargs, tables = setup_condition(kind, data, 128, **(tables_kw or {}))
    config = make_config("micro", image_size=16, channels=1, conditioning={kind: kwargs},
                         model_overrides={"emb_dim": 128})
    trainer = Trainer(config, data, TrainOptions(out=str(tmp_path / kind), steps=3, batch_size=8, progress=False,
                                                 sample_every=10**6, num_samples=4, sample_steps=2), tables)
    trainer.run()
    return fromnoise.load(tmp_path / kind)


def test_end_to_end_text_from_a_reference003_folder(tmp_path):
    data = load_dataset(write_reference003_folder(tmp_path / "digits"))
    kwargs, tables = setup_text(data, 128, template="Draw a {class}")
    assert sorted(kwargs["captions"]) == ["Draw a six", "Draw a two"]
    assert isinstance(tables["text_tokens"], SharedRows) and tables["text_tokens"].bank.shape[0] == 2
    denoiser = tiny_run(tmp_path, data, "text", {"template": "Draw a {class}"})
    files = {p.name for p in (denoiser.checkpoint).iterdir()}
    assert not any("bert" in f.lower() for f in files)
    n_weights = sum(p.numel() for p in denoiser.encoders["text"].parameters())
    assert n_weights < 200_000  # the frozen MiniLM (22M) is not in the checkpoint
    cond, labels = build_condition(denoiser, {"prompts": ["a picture of the number six", "Draw a two"]}, 2)
    assert labels == ["a picture of the number six", "Draw a two"] and cond["text_tokens"].shape[0] == 4
    images = generate(denoiser, 4, steps=2, guidance=3.0, condition=cond)
    assert images.shape == (4, 1, 16, 16) and torch.isfinite(images).all()
    with pytest.raises(UserError, match="empty"):
        build_condition(denoiser, {"prompts": ["  "]}, 1)
    with pytest.raises(UserError, match="cannot take --class"):
        build_condition(denoiser, {"classes": ["six"]}, 1)


def test_end_to_end_class(tmp_path):
    data = ImageData(torch.randint(0, 256, (16, 1, 16, 16), dtype=torch.uint8), torch.arange(16) % 2, ["bag", "coat"])
    denoiser = tiny_run(tmp_path, data, "class")
    cond, labels = build_condition(denoiser, {"classes": ["coat", "0"]}, 3)
    assert labels == ["coat", "bag"] and cond["labels"].tolist() == [1, 1, 1, 0, 0, 0]
    images = generate(denoiser, 6, steps=2, guidance=2.0, condition=cond)
    assert images.shape == (6, 1, 16, 16) and images.min() >= 0 and images.max() <= 1
    with pytest.raises(UserError, match="bag, coat"):
        build_condition(denoiser, {"classes": ["sneaker"]}, 1)
    with pytest.raises(UserError, match="cannot take --prompt"):
        build_condition(denoiser, {"prompts": ["a photo of a coat"]}, 1)


def test_cli_text_train_and_sample(tmp_path):
    from click.testing import CliRunner

    from fromnoise.cli.main import cli

    def run(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    folder, out = write_reference003_folder(tmp_path / "digits"), tmp_path / "run"
    res = run("train", "--dataset", folder, "--preset", "micro", "--image-size", 8, "--condition", "text",
              "--caption-template", "Draw a {class}", "--caption-template", "a handwritten {class}",
              "--caption-template", "{classes}", "--token-dropout", 0.5, "--steps", 2, "--batch-size", 4,
              "--num-samples", 2, "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    from fromnoise import load

    text = load(out).encoders["text"]
    captions = text.captions  # every wording of each class was trained on
    assert {"Draw a two", "a handwritten two", "twos", "Draw a six", "a handwritten six", "sixes"} <= set(captions)
    assert text.token_dropout == 0.5
    res = run("sample", out, "--prompt", "a picture of the number six", "--prompt", "Draw a two", "--guidance", 2,
              "-n", 2, "--steps", 2, "--out", tmp_path / "gen")
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "gen" / "images").glob("*.png"))) == 4
    res = run("sample", out, "--prompt", "", "--steps", 1, "-n", 1, "--out", tmp_path / "gen2")
    assert res.exit_code == 2 and "empty" in res.output and "Traceback" not in res.output
