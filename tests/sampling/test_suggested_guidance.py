"""A preset's suggested guidance scale: kept in the checkpoint's config and taken by generate(), the CLI and the page
when the user sets none; never for unconditional requests or edits. (youandme-latent suggests none: guidance 2
draws better objects from whole feature vectors but breaks its colour sliders, tutorial 11.)"""

import pytest
import torch

import fromnoise
from fromnoise.build import make_config
from fromnoise.config import Config
from fromnoise.errors import UserError
from fromnoise.sampling.generate import resolve_guidance, suggested_guidance


@pytest.fixture()
def model():
    torch.manual_seed(0)
    den = fromnoise.build_model("micro", image_size=8, channels=1, model_overrides={"emb_dim": 32},
                                conditioning={"class": {"num_classes": 3, "emb_dim": 32,
                                                        "class_names": ["a", "b", "c"]}}).eval()
    with torch.no_grad():  # untrained, the class embedding may be exactly zero: make the classes differ
        for p in den.parameters():
            p.add_(0.1 * torch.randn_like(p))
    den.config = {"model": {"defaults": {"guidance": 2.5}}}  # what load() attaches from config.json
    return den


def test_a_suggestion_survives_the_config_round_trip_and_bad_ones_are_refused():
    raw = make_config("youandme-latent", image_size=64, channels=4)
    assert "guidance" not in raw["model"]["defaults"]  # measured: 1 keeps the flagship's colour sliders
    raw["model"]["defaults"]["guidance"] = 2.0
    assert Config.from_dict(raw, "test").to_dict()["model"]["defaults"]["guidance"] == 2.0
    raw["model"]["defaults"]["guidance"] = 99.0
    with pytest.raises(UserError, match="guidance"):
        Config.from_dict(raw, "test")


def test_unset_guidance_resolves_to_the_suggestion_only_for_conditional_requests(model):
    cond = {"labels": torch.tensor([0, 1])}
    assert suggested_guidance(model) == 2.5
    assert resolve_guidance(model, None, cond) == 2.5
    assert resolve_guidance(model, 1.0, cond) == 1.0  # a scale the user gives wins, 1 included
    assert resolve_guidance(model, None, None) == 1.0  # nothing to guide towards
    assert resolve_guidance(model, None, cond, editing=True) == 1.0  # an edit's scale is its own choice
    model.config = {}  # a checkpoint written before the suggestion (or a preset without one)
    assert resolve_guidance(model, None, cond) == 1.0


def test_generate_without_a_scale_samples_at_the_models_suggestion(model):
    cond = {"labels": torch.tensor([0, 1, 2])}
    unset = fromnoise.generate(model, 3, condition=cond, steps=3, seed=4)
    assert torch.equal(unset, fromnoise.generate(model, 3, condition=cond, steps=3, seed=4, guidance=2.5))
    assert not torch.equal(unset, fromnoise.generate(model, 3, condition=cond, steps=3, seed=4, guidance=1.0))


def test_a_model_trained_without_condition_dropout_takes_no_suggested_guidance_and_the_page_holds_it_at_1(model):
    """Guidance needs the null condition that condition dropout trains: a model trained with --condition-dropout 0
    never takes a suggested scale, the page holds its slider at 1 and a scale given is refused."""
    from fromnoise.sampling.generate import guidance_trained
    from fromnoise.web.generate_tab import GUIDANCE_LABEL, guidance_control

    cond = {"labels": torch.tensor([0, 1])}
    assert guidance_trained(model)  # a checkpoint without training options: trained the classic way
    assert guidance_control(model) == {"value": 2.5, "interactive": True, "label": GUIDANCE_LABEL}
    model.config["training"] = {"condition_dropout": 0.1}
    assert guidance_trained(model) and resolve_guidance(model, None, cond) == 2.5
    model.config["training"] = {"condition_dropout": 0.0}
    assert not guidance_trained(model)
    assert resolve_guidance(model, None, cond) == 1.0  # the suggestion would extrapolate from noise
    control = guidance_control(model)
    assert (control["value"], control["interactive"]) == (1.0, False)
    assert "without condition dropout" in control["label"]
    with pytest.raises(UserError, match="condition-dropout 0"):
        fromnoise.generate(model, 2, condition=cond, steps=2, guidance=2.0)
    unconditional = fromnoise.build_model("micro", image_size=8, channels=1)
    assert not guidance_trained(unconditional)
    assert guidance_control(unconditional)["label"] == "guidance: 1 (an unconditional model)"
