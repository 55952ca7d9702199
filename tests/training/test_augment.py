"""Non-leaking augmentation (issue 25, EDM's AugmentPipe): labels say what was done, the mask moves with
its image, nothing happens at p = 0, the label is zero at sampling, and --augment trains and resumes."""

import json
import math
from contextlib import nullcontext

import pytest
import torch
from PIL import Image

from fromnoise.build import build_denoiser, make_config
from fromnoise.config import TrainingConfig
from fromnoise.errors import UserError
from fromnoise.sampling import generate
from fromnoise.training.augment import AUGMENT_DIM, AugmentPipe, apply_labels, draw_labels, label_matrix, warp
from fromnoise.training.diffusion_objective import DiffusionObjective, check_augmentable
from tests.cli_runner import run

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def label(**values) -> torch.Tensor:
    """One label (1, AUGMENT_DIM) from named parts: flip, tx, ty (shares of the side), scale (log2), theta,
    aniso (log2), phi."""
    lab = torch.zeros(1, AUGMENT_DIM)
    lab[0, 0] = values.get("flip", 0)
    lab[0, 1], lab[0, 2] = values.get("tx", 0), values.get("ty", 0)
    lab[0, 3] = values.get("scale", 0)
    if "theta" in values:
        lab[0, 4], lab[0, 5] = math.sin(values["theta"]), math.cos(values["theta"]) - 1
    a, phi = values.get("aniso", 0), values.get("phi", 0)
    lab[0, 6], lab[0, 7] = a * math.cos(2 * phi), a * math.sin(2 * phi)
    return lab


def rgba_object(size=32) -> torch.Tensor:
    """(1, 4, size, size) in [-1, 1]: an off-centre L-shaped object whose colour channels equal its alpha
    (+1 on the object, -1 off it), so any warp must leave colour and alpha equal."""
    alpha = torch.full((size, size), -1.0)
    alpha[10:22, 9:13] = 1
    alpha[18:22, 13:20] = 1
    return alpha.expand(1, 4, size, size).clone()


def moments_angle(alpha: torch.Tensor) -> float:
    """Principal-axis angle of a blob (atan2 in image coordinates, y down), from its second moments."""
    w = alpha.clamp(min=0)
    ys, xs = torch.meshgrid(torch.arange(w.shape[0], dtype=torch.float64),
                            torch.arange(w.shape[1], dtype=torch.float64), indexing="ij")
    w = w.double()
    m = w.sum()
    cx, cy = (w * xs).sum() / m, (w * ys).sum() / m
    mu20, mu02, mu11 = (w * (xs - cx) ** 2).sum(), (w * (ys - cy) ** 2).sum(), (w * (xs - cx) * (ys - cy)).sum()
    return 0.5 * math.atan2(2 * mu11, mu20 - mu02)


# ------------------------------------------------------------------------------- the pipe
def test_p0_leaves_the_batch_untouched_and_labels_zero():
    x = torch.rand(16, 3, 8, 8) * 2 - 1
    mask = (torch.rand(16, 1, 8, 8) > 0.5).float()
    out, labels, (moved,) = AugmentPipe(0.0)(x, [mask])
    assert torch.equal(out, x) and torch.equal(moved, mask)
    assert labels.shape == (16, AUGMENT_DIM) and not labels.any()


def test_each_augmentation_happens_with_probability_p():
    labels = draw_labels(20_000, 0.3, 32, generator=torch.Generator().manual_seed(0))
    on = labels.abs() > 0
    assert abs(on[:, 0].float().mean() - 0.3) < 0.015  # flip
    assert abs(on[:, 3].float().mean() - 0.3) < 0.015  # isotropic scale
    assert abs(on[:, 4].float().mean() - 0.3) < 0.015  # rotation
    assert abs((on[:, 6] | on[:, 7]).float().mean() - 0.3) < 0.015  # anisotropy
    assert torch.all((labels[:, 1:3] * 32).round() == labels[:, 1:3] * 32)  # whole pixels
    assert labels[:, 1:3].abs().max() <= 0.125


def test_rows_without_augmentation_are_not_resampled():
    x = torch.rand(4, 1, 8, 8)
    lab = torch.zeros(4, AUGMENT_DIM)
    lab[1, 0] = 1  # only row 1 is flipped
    out, _ = apply_labels(x, lab)
    assert torch.equal(out[[0, 2, 3]], x[[0, 2, 3]])
    assert torch.allclose(out[1], x[1].flip(-1), atol=1e-5)


def test_flip_label_is_one_iff_the_image_was_mirrored():
    x = torch.rand(64, 1, 8, 8)
    x[..., :4] += 2  # not mirror-symmetric, so a flip shows
    out, labels, _ = AugmentPipe(0.5)(x, generator=torch.Generator().manual_seed(3))
    only_flip = labels[:, 1:].abs().sum(1) == 0  # rows with no other augmentation
    assert only_flip.sum() > 5 and labels[only_flip, 0].sum() > 2
    for i in only_flip.nonzero().flatten().tolist():
        want = x[i].flip(-1) if labels[i, 0] == 1 else x[i]
        assert torch.allclose(out[i], want, atol=1e-5), i


def test_translation_label_is_the_shift_in_pixels():
    x = torch.rand(1, 2, 16, 16)
    out, _ = apply_labels(x, label(tx=3 / 16, ty=-2 / 16))
    # moved 3 pixels right and 2 up: out[r, c] = x[r + 2, c - 3] away from the mirrored border
    assert torch.allclose(out[0, :, :14, 3:], x[0, :, 2:, :13], atol=1e-5)


def test_scale_label_is_log2_of_the_scale_factor():
    img = rgba_object()
    for s in (-0.3, 0.25):
        out, _ = apply_labels(img, label(scale=s))
        area = (out[0, 3] > 0).float().sum() / (img[0, 3] > 0).float().sum()
        assert abs(area - 2 ** (2 * s)) < 0.12, (s, area)  # area scales by s^2
        # anisotropic scaling keeps the area
        out, _ = apply_labels(img, label(aniso=0.3, phi=0.4))
        area = (out[0, 3] > 0).float().sum() / (img[0, 3] > 0).float().sum()
        assert abs(area - 1) < 0.1


def test_rotation_label_is_sin_and_cos_of_the_angle():
    bar = torch.full((1, 1, 33, 33), -1.0)
    bar[0, 0, 15:18, 6:27] = 1  # a horizontal bar through the centre
    for theta in (0.4, -1.0, 2.5):
        out, _ = apply_labels(bar, label(theta=theta))
        got = moments_angle(out[0, 0])
        diff = (got - theta + math.pi / 2) % math.pi - math.pi / 2  # an axis: defined modulo pi
        assert abs(diff) < 0.05, (theta, got)


def test_the_inverse_of_a_label_restores_the_image():
    img = rgba_object()
    labels = draw_labels(32, 1.0, 32, generator=torch.Generator().manual_seed(1))
    labels[:, 3] = labels[:, 3].clamp(-0.25, 0.25)  # keep the object inside the frame
    labels[:, 1:3] = labels[:, 1:3].clamp(-2 / 32, 2 / 32)
    a = labels[:, 6:8].norm(dim=1, keepdim=True)
    labels[:, 6:8] *= (a.clamp(max=0.25) / a.clamp(min=1e-9))
    batch = img.expand(32, -1, -1, -1)
    out, _ = apply_labels(batch, labels)
    back = warp(out, torch.linalg.inv(label_matrix(labels)))
    inner = (slice(None), 3, slice(6, 26), slice(6, 26))  # the object; mirrored copies come in at the corners
    wrong = ((back[inner] > 0) != (batch[inner] > 0)).float().sum((1, 2)) / (batch[inner] > 0).sum((1, 2))
    assert wrong.max() < 0.15, wrong  # bilinear twice blurs the edge a little; a wrong label moves it all


# ---------------------------------------------------------------------------- the mask moves with its image
def test_alpha_and_colour_move_identically():
    img = rgba_object().expand(64, -1, -1, -1)
    out, labels, _ = AugmentPipe(1.0)(img, generator=torch.Generator().manual_seed(2))
    assert labels[:, 0].any() and labels[:, 4].any()
    for c in range(3):
        assert torch.allclose(out[:, c], out[:, 3], atol=1e-6)
    assert not torch.allclose(out, img)


def test_the_mask_condition_moves_with_its_image_in_the_objective():
    """The features/mask condition (a {0, 1} table beside the images) is warped with the batch."""
    cfg = make_config("micro", image_size=16, channels=4, model_overrides={"augment_dim": AUGMENT_DIM})
    denoiser = build_denoiser(cfg)
    img = rgba_object(16).expand(8, -1, -1, -1).contiguous()
    tables = {"mask": (img[:, 3:4] > 0).float()}
    seen = {}

    def net(x_t, t, cond, drop, augment=None):
        seen.update(x_t=x_t, mask=cond["mask"], augment=augment)
        return torch.zeros_like(x_t, requires_grad=True)

    def draw(x0, info):  # t = 0 and no noise: x_t is (almost) the augmented image itself
        return torch.zeros(x0.shape[0], dtype=torch.long), torch.zeros_like(x0)

    opts = TrainingConfig(augment=1.0, condition_dropout=0.0)
    torch.manual_seed(0)
    objective = DiffusionObjective(denoiser, opts, tables, "cpu", nullcontext, draw=draw)
    objective(net, img, {"indices": torch.arange(8)})
    assert seen["augment"] is not None and seen["augment"].abs().sum() > 0
    assert torch.equal(seen["mask"], (seen["x_t"][:, 3:4] > 0).float())  # the mask is the warped alpha
    assert not torch.equal(seen["mask"], tables["mask"])


# ------------------------------------------------------------------------------- zero at sampling
def augmented_denoiser():
    """A micro U-Net with the label's map, its zero-initialised layers (the output conv, each block's last
    conv) filled, so that the time embedding, and so the label, changes the output as in a trained one."""
    torch.manual_seed(0)
    d = build_denoiser(make_config("micro", image_size=8, channels=1, model_overrides={"augment_dim": AUGMENT_DIM}))
    with torch.no_grad():
        for p in d.parameters():
            if not p.any():
                p.normal_(0, 0.1)
    return d


def test_sampling_gives_the_network_no_augmentation():
    d = augmented_denoiser()
    calls = []
    d.net.augment_embed.register_forward_hook(lambda mod, inp, out: calls.append(inp[0]))
    before = generate(d, 3, sampler="ddim", steps=3, seed=0)
    with torch.no_grad():  # any weights of the label's map: the samples do not change
        d.net.augment_embed.weight.normal_(0, 5.0)
    after = generate(d, 3, sampler="ddim", steps=3, seed=0)
    assert torch.equal(before, after)
    assert all(not c.any() for c in calls)  # if the map is called at sampling at all, it sees zeros


def test_training_gives_the_network_the_labels():
    d = augmented_denoiser()
    calls = []
    d.net.augment_embed.register_forward_hook(lambda mod, inp, out: calls.append(inp[0]))
    opts = TrainingConfig(augment=1.0)
    objective = DiffusionObjective(d, opts, {}, "cpu", nullcontext)
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    objective(d, x, {"indices": torch.arange(8)})
    assert len(calls) == 1 and calls[0].shape == (8, AUGMENT_DIM) and calls[0].abs().sum() > 0


def test_zero_labels_equal_no_labels():
    d = augmented_denoiser()
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 500])
    with torch.no_grad():
        d.net.augment_embed.weight.normal_()
        assert torch.equal(d(x, t), d(x, t, augment=torch.zeros(2, AUGMENT_DIM)))
        assert not torch.equal(d(x, t), d(x, t, augment=torch.ones(2, AUGMENT_DIM)))


def test_a_checkpoint_without_augment_dim_builds_without_the_map():
    cfg = make_config("micro", image_size=8, channels=1)
    cfg["model"]["kwargs"].pop("augment_dim", None)  # as written before augmentation existed
    assert build_denoiser(cfg).net.augment_embed is None
    with pytest.raises(UserError, match="augment"):
        check_augmentable(build_denoiser(cfg))


# ------------------------------------------------------------------------------- end to end
@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(12):
        img = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
        img.paste((30 * (i % 8), 200, 90, 255), (1 + i % 3, 2, 5 + i % 3, 6))
        img.save(root / f"{i}.png")
    return root


def test_train_with_augment_runs_and_resumes(folder, tmp_path):
    out = tmp_path / "run"
    common = ("train", folder, "--image-size", 8, "--channels", 4, "--preset", "micro", "--batch-size", 4,
              "--augment", 0.15, "--out", out, "--no-progress", "--num-samples", 2)
    first = run(*common, "--steps", 2)
    assert "consider --augment" not in first.output  # augmenting already: no suggestion
    again = run(*common, "--steps", 4)
    assert "resuming at step 2" in again.output
    ckpts = sorted((out / "checkpoints").iterdir())
    config = json.loads((ckpts[-1] / "config.json").read_text())
    assert config["model"]["kwargs"]["augment_dim"] == AUGMENT_DIM and config["training"]["augment"] == 0.15
    assert json.loads((ckpts[-1] / "trainer.json").read_text())["step"] == 4
    run("sample", out, "-n", 2, "--steps", 2, "--out", tmp_path / "gen")


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_augment_outside_0_1_is_one_clear_line(folder, tmp_path, value):
    result = run("train", folder, "--steps", 1, "--augment", value, "--out", tmp_path / "x", ok=False)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "--augment" in errors[0] and "0<=x<=1" in errors[0]
    with pytest.raises(UserError, match="training.augment"):
        TrainingConfig(augment=float(value))


def test_augment_on_a_network_without_the_label_is_refused(folder, tmp_path):
    result = run("train", folder, "--image-size", 8, "--preset", "reference004", "--steps", 1, "--augment", 0.15,
                 "--out", tmp_path / "x", ok=False)
    assert result.exit_code == 2 and "--augment needs a U-Net preset" in result.output
