"""Typed configs: a checkpoint's config.json is validated (keys, ranges, size) before anything is built."""

import copy
import inspect
import json
import resource
import time
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from fromnoise.build import build_denoiser, check_size, estimate_size, make_config
from fromnoise.config import (
    ARCH_FIELDS,
    ENCODER_FIELDS,
    MAX_PARAMETERS,
    REFERENCE004_FIELDS,
    ConditioningConfig,
    Config,
    DataConfig,
    DiffusionConfig,
    TrainingConfig,
)
from fromnoise.errors import UserError
from fromnoise.models import PRESETS, count_parameters

# A checkpoint's config.json exactly as the code before typed configs wrote it (micro preset, 8x8 RGB
# folder, class-conditional; "training" is the old TrainOptions with its lr 2e-3 and warm-up 200).
OLD_CONFIG_JSON = """{
  "preset": "micro",
  "model": {"arch": "unet", "kwargs": {"image_size": 8, "in_channels": 3, "out_channels": 3, "channels": [8, 16],
            "num_res_blocks": 1, "attention": [false, true], "downsample": [true, false], "mid_attention": true,
            "heads": 2, "groups": 4, "dropout": 0.0, "scale_shift": true, "time_freq_dim": null, "emb_dim": null,
            "time_act": "silu", "down_kind": "conv", "up_kind": "conv", "context_dim": null,
            "cross_attention": null, "patch": 1, "skips": "block"},
            "defaults": {"lr": 0.002, "batch_size": 16, "schedule": "cosine", "prediction": "v"}},
  "diffusion": {"schedule": "cosine", "timesteps": 1000, "prediction": "v"},
  "image": {"channels": 3, "size": 8},
  "conditioning": {"class": {"num_classes": 2, "emb_dim": 32, "class_names": ["blue", "red"]}},
  "data": {"source": "folder", "path": "/tmp/imgs", "split": null, "n": 12, "image_size": 8, "channels": 3,
           "skipped": 0, "ignored": 0, "labels_from": "folders"},
  "training": {"out": "/tmp/run/r", "steps": 4, "epochs": null, "minutes": null, "batch_size": 4, "lr": 0.002,
               "warmup": 100, "lr_decay": "none", "weight_decay": 0.0, "grad_clip": 1.0, "grad_accum": 1,
               "ema_decay": 0.999, "min_snr_gamma": null, "condition_dropout": 0.1, "hflip": true,
               "color_jitter": 0.0, "sample_every": 2, "save_every": 1000, "keep": 3, "num_samples": 4,
               "sampler": "dpmpp_2m_sde", "sample_steps": 20, "seed": 0, "compile": false, "log_every": 10,
               "progress": false}
}"""


def old_config() -> dict:
    return json.loads(OLD_CONFIG_JSON)


def _error(config, where="config.json") -> str:
    with pytest.raises(UserError) as info:
        build_denoiser(config, where)
    return str(info.value)


# ------------------------------------------------------------------------------ compatibility
def test_a_config_written_by_the_previous_code_loads_and_round_trips():
    raw = old_config()
    cfg = Config.from_dict(raw, "config.json")
    out = cfg.to_dict()
    assert {k: v for k, v in out.items() if k != "training"} == {k: v for k, v in raw.items() if k != "training"}
    old_training = raw["training"]  # the training section may gain keys (eval_every...), never change one
    assert {k: out["training"][k] for k in old_training} == old_training
    d = build_denoiser(raw)
    assert d.image_shape == (3, 8, 8) and d.prediction == "v" and "class" in d.encoders
    assert cfg.training.warmup == 100 and cfg.training.sampler == "dpmpp_2m_sde"


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_round_trips_and_fits_the_limit(preset):
    raw = make_config(preset)
    again = Config.from_dict(json.loads(json.dumps(raw))).to_dict()
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(raw))
    est = estimate_size(raw)
    assert est.parameters < MAX_PARAMETERS / 10
    assert est.training_bytes == 20 * est.parameters


def test_the_meta_estimate_counts_exactly_what_is_built():
    raw = make_config("micro", image_size=8, channels=3,
                      conditioning={"class": {"num_classes": 3, "emb_dim": 32}})
    assert estimate_size(raw).parameters == count_parameters(build_denoiser(raw))


def test_training_config_round_trips_and_validates():
    t = TrainingConfig(out="runs/x", steps=5, lr=1e-3, epochs=2)
    assert TrainingConfig.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    assert t.epochs == 2.0 and isinstance(t.epochs, float)
    with pytest.raises(UserError, match="training.warmup"):
        TrainingConfig(warmup=-1)
    with pytest.raises(UserError, match="training.lr_decay 'linear' is not one of none, cosine"):
        TrainingConfig(lr_decay="linear")
    with pytest.raises(UserError, match="training.sampler 'nope'"):
        TrainingConfig(sampler="nope")
    with pytest.raises(UserError, match="unknown key.*'lr_max'"):
        TrainingConfig.from_dict({"lr_max": 1.0})


# ------------------------------------------------------------------------------ bad fields
@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(extra=1), "config.json: the config has unknown key(s) 'extra'"),
    (lambda c: c["model"]["kwargs"].update(widths=[8]), "model.kwargs (unet) has unknown key(s) 'widths'"),
    (lambda c: c["diffusion"].update(eta=0), "diffusion has unknown key(s) 'eta'"),
    (lambda c: c["conditioning"]["class"].update(vocab=3), "conditioning.class has unknown key(s) 'vocab'"),
    (lambda c: c["conditioning"].update(audio={}), "conditioning has unknown key(s) 'audio'"),
    (lambda c: c["training"].update(turbo=True), "training has unknown key(s) 'turbo'"),
])
def test_an_unknown_key_is_one_error_naming_it(edit, message):
    raw = old_config()
    edit(raw)
    assert message in _error(raw)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["diffusion"].update(prediction="foo"),
     "config.json: diffusion.prediction 'foo' is not one of eps, x0, v"),
    (lambda c: c["diffusion"].update(schedule="quadratic"), "diffusion.schedule 'quadratic' is not one of linear"),
    (lambda c: c["diffusion"].update(timesteps=1), "diffusion.timesteps = 1 is out of range [2, 100000]"),
    (lambda c: c["diffusion"].update(timesteps="1000"), "diffusion.timesteps must be an integer"),
    (lambda c: c["model"]["kwargs"].update(channels=[8, 10**7]), "channels[1] = 10000000 is out of range"),
    (lambda c: c["model"]["kwargs"].update(channels=[]), "model.kwargs (unet).channels has 0 entries"),
    (lambda c: c["model"]["kwargs"].update(num_res_blocks=10**6), "num_res_blocks = 1000000 is out of range"),
    (lambda c: c["model"]["kwargs"].update(in_channels=0), "in_channels = 0 is out of range"),
    (lambda c: c["model"]["kwargs"].update(attention=[True]), "attention has 1 flags but there are 2 levels"),
    (lambda c: c["model"].update(arch="transformer"), "model.arch 'transformer' is not one of unet, reference004"),
    (lambda c: c["image"].update(channels=7), "image.channels = 7 is out of range [1, 4]"),
    (lambda c: c["image"].update(channels=1), "image.channels = 1 but the network predicts 3 channels"),
    (lambda c: c["model"]["kwargs"].update(dropout=float("nan")), "dropout = nan is not a finite number"),
    (lambda c: c["conditioning"]["class"].update(num_classes=3), "class_names has 2 names for 3 classes"),
    (lambda c: c["conditioning"]["class"].update(emb_dim=64), "conditioning.class.emb_dim = 64 but the network"),
    (lambda c: c.update(model="unet"), "model must be a JSON object"),
])
def test_a_bad_value_is_one_error_naming_the_field(edit, message):
    raw = old_config()
    edit(raw)
    text = _error(raw)
    assert message in text, text
    assert "\n" not in text


def test_a_crafted_huge_network_is_refused_before_anything_is_allocated():
    """Widths and block counts inside their ranges, but 10^5-10^6 M parameters: refused in well under a
    second, without the terabytes (or even a few hundred MB) it would take."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for kwargs in ({"channels": [8192] * 8, "attention": [True] * 8, "downsample": None, "num_res_blocks": 8},
                   {"channels": [4096] * 3, "attention": [False, False, True], "downsample": None}):
        raw = old_config()
        raw["model"]["kwargs"].update(kwargs)
        raw["conditioning"] = {}
        start = time.perf_counter()
        with pytest.raises(UserError, match=r"config.json: the network would have at least [\d,]+M parameters"):
            build_denoiser(raw, "config.json")
        assert time.perf_counter() - start < 3.0
        assert estimate_size(raw).parameters > MAX_PARAMETERS
    huge_classes = old_config()
    huge_classes["conditioning"]["class"] = {"num_classes": 1_000_000, "emb_dim": 32}
    huge_classes["model"]["kwargs"]["emb_dim"] = 32
    assert estimate_size(huge_classes).parameters > 32_000_000  # the embedding table is counted too
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 200_000


def test_check_size_passes_the_largest_preset():
    assert 80e6 < check_size(make_config("youandme")).parameters < 90e6


def test_fields_tables_match_the_classes_they_check():
    from fromnoise.conditioning import encoder_class
    from fromnoise.models import DiffusionModel, UNetConfig

    assert set(ARCH_FIELDS["unet"]) == {f.name for f in fields(UNetConfig)}  # every field carries its rule
    for f in fields(UNetConfig):  # and every default passes it
        ARCH_FIELDS["unet"][f.name].check(f.name, f.default)
    ref = inspect.signature(DiffusionModel.__init__).parameters
    assert set(REFERENCE004_FIELDS) == {k for k in ref if k != "self"}
    for kind, table in ENCODER_FIELDS.items():
        params = inspect.signature(encoder_class(kind).__init__).parameters
        assert set(table) == {k for k, p in params.items() if k != "self" and p.kind != p.VAR_KEYWORD}, kind


# ------------------------------------------------------------------------------ loading a checkpoint
@pytest.fixture
def checkpoint(tmp_path):
    from fromnoise.checkpoint import save_checkpoint

    raw = old_config()
    denoiser = build_denoiser(raw)
    return save_checkpoint(tmp_path / "run", 4, model=denoiser, config=raw, trainer_state={})


def test_load_validates_the_checkpoint_config_first(checkpoint, monkeypatch):
    import fromnoise
    import fromnoise.build

    assert fromnoise.load(checkpoint).step == 4
    raw = json.loads((checkpoint / "config.json").read_text())
    raw["diffusion"]["prediction"] = "foo"
    (checkpoint / "config.json").write_text(json.dumps(raw))
    built = []
    monkeypatch.setattr(fromnoise.build, "build_network", lambda model: built.append(1))
    with pytest.raises(UserError, match=r"step_00000004/config.json: diffusion.prediction 'foo' is not one of"):
        fromnoise.load(checkpoint)
    assert not built  # refused before any network was built


def test_sample_cli_turns_a_bad_config_into_one_line(checkpoint):
    from fromnoise.cli.main import cli

    raw = json.loads((checkpoint / "config.json").read_text())
    raw["diffusion"]["schedule"] = "zigzag"
    (checkpoint / "config.json").write_text(json.dumps(raw))
    result = CliRunner().invoke(cli, ["sample", str(checkpoint), "-n", "1"])
    assert result.exit_code == 2
    assert "diffusion.schedule 'zigzag' is not one of linear, cosine, sigmoid" in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1


# ------------------------------------------------------------------------------ defaults in one place
def test_train_cli_defaults_are_the_dataclass_defaults():
    from fromnoise.cli.train import train
    from fromnoise.cli.train_run import configs_from_options

    defaults = {p.name: p.default for p in train.params}
    training = {f.name: f.default for f in fields(TrainingConfig)}
    compared = 0
    for name, value in defaults.items():
        key = "compile" if name == "compile_" else name
        if key in training and value is not None:
            assert value == training[key], name
            compared += 1
    assert compared >= 15
    assert defaults["warmup"] == TrainingConfig.warmup == 100
    assert defaults["timesteps"] == DiffusionConfig.timesteps
    assert defaults["dataset"] == DataConfig.source
    assert defaults["condition"] == ConditioningConfig.kind
    assert defaults["token_dropout"] == ConditioningConfig.token_dropout
    # every option lands in a config field, and untouched options give the dataclass's defaults
    params = {k: v for k, v in defaults.items() if k not in ("config", "data")}  # DATA is --dataset
    params["caption_template"] = ()
    got = configs_from_options(params)
    assert got["auto"] == {"batch_size", "lr", "hflip", "lr_decay", "t_sampling", "min_snr_gamma", "ema_std",
                           "condition_dropout"}
    assert got["training"] == TrainingConfig(out=got["training"].out)
    assert got["diffusion"] == DiffusionConfig() and got["conditioning"] == ConditioningConfig()


def test_the_trainer_takes_the_same_dataclass():
    from fromnoise.training import TrainOptions

    assert TrainOptions is TrainingConfig


# ------------------------------------------------------------------------------ options before data
def _train(*args, monkeypatch, tmp_path):
    import fromnoise.data
    from fromnoise.cli.main import cli

    def no_loading(*a, **k):
        raise AssertionError("the data set was loaded before the options were checked")

    monkeypatch.setattr(fromnoise.data, "load_dataset", no_loading)
    result = CliRunner().invoke(cli, ["train", "--dataset", str(tmp_path / "no_such_folder"), "--steps", "1",
                                      "--out", str(tmp_path / "o"), *map(str, args)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "no_such_folder" not in result.output
    return result.output


def test_an_unknown_preset_fails_before_any_data_is_loaded(monkeypatch, tmp_path):
    out = _train("--preset", "huge", monkeypatch=monkeypatch, tmp_path=tmp_path)
    assert "unknown preset 'huge'" in out


def test_a_hub_text_encoder_without_the_flag_fails_before_any_data_is_loaded(monkeypatch, tmp_path):
    out = _train("--condition", "text", "--text-encoder", "openai/clip-vit-base-patch32",
                 monkeypatch=monkeypatch, tmp_path=tmp_path)
    assert "--allow-download" in out and "openai/clip-vit-base-patch32" in out


def test_mask_dropout_without_a_mask_fails_before_any_data_is_loaded(monkeypatch, tmp_path):
    out = _train("--mask-dropout", "0.3", monkeypatch=monkeypatch, tmp_path=tmp_path)
    assert "--mask-dropout" in out and "--condition features" in out
    out = _train("--condition", "features", "--no-mask", "--mask-dropout", "0.3", monkeypatch=monkeypatch,
                 tmp_path=tmp_path)
    assert "mask_dropout" in out
    with pytest.raises(UserError, match="mask_dropout"):
        ConditioningConfig(kind="features", mask_dropout=1.5)
    assert ConditioningConfig(kind="features", mask_dropout=0.3).mask_dropout == 0.3


def test_a_bad_value_in_a_toml_file_names_the_field(monkeypatch, tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("warmup = -5\n")
    out = _train("--config", toml, monkeypatch=monkeypatch, tmp_path=tmp_path)
    assert "training.warmup = -5 is out of range" in out


# ------------------------------------------------------------------------------ text encoders
def test_text_models_load_only_from_safetensors_folders_or_with_the_flag(tmp_path):
    from fromnoise.conditioning.text import resolve_model

    with pytest.raises(UserError, match="--allow-download"):
        resolve_model("sentence-transformers/paraphrase-MiniLM-L3-v2")
    assert resolve_model("sentence-transformers/paraphrase-MiniLM-L3-v2", allow_download=True)[1] == \
        "sentence-transformers/paraphrase-MiniLM-L3-v2"
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    for allow in (False, True):  # the flag allows downloads, never pickles
        with pytest.raises(UserError, match=r"no model.safetensors \(it has pytorch_model.bin"):
            resolve_model(str(pickled), allow_download=allow)
    backend, where = resolve_model(None)  # the shipped MiniLM
    assert backend == "sentence-transformers" and (Path(where) / "model.safetensors").exists()
    (pickled / "model.safetensors").write_bytes(b"")
    assert resolve_model(str(pickled)) == ("sentence-transformers", str(pickled))


def test_sample_and_train_offer_the_download_flag():
    from fromnoise.cli.sample import sample
    from fromnoise.cli.train import train

    for command in (sample, train):
        flag = next(p for p in command.params if p.name == "allow_download")
        assert flag.is_flag and flag.default is False


def test_config_module_imports_no_torch_at_module_level():
    import ast
    import importlib
    import subprocess
    import sys

    # the configs, the checks they are built from, and the torch-free names they check against
    torch_free = ("fromnoise.config", "fromnoise.config.image", "fromnoise.config.conditioning",
                  "fromnoise.config.data", "fromnoise.config.training", "fromnoise.models.config",
                  "fromnoise.models.presets", "fromnoise.diffusion.config", "fromnoise.rules")
    allowed = {"__future__", "math", "dataclasses", "typing", "collections.abc", "importlib", "lazy", "errors", "rules",
               "choices", "config", "models.config", "diffusion.config", "conditioning", "data", "image", "training"}
    for name in torch_free:
        tree = ast.parse(inspect.getsource(importlib.import_module(name)))
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        names |= {(n.module or "") for n in top if isinstance(n, ast.ImportFrom)}
        assert names <= allowed, (name, names - allowed)
    code = ("import sys; from fromnoise.config import TrainingConfig, ModelConfig, DiffusionConfig; "
            "from fromnoise.models import get_preset; TrainingConfig(); get_preset('fashion').validate(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_copy_of_config_is_not_mutated_by_validation():
    raw = old_config()
    before = copy.deepcopy(raw)
    Config.from_dict(raw).to_dict()
    build_denoiser(raw)
    assert raw == before
