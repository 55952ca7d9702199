"""The features mean what their names say, on real images with alpha (clip art and emoji),
checked against computations that do not share their code: scikit-image regionprops on the
alpha mask, plain HSV / luminance statistics over the object, and a majority colour counted
from quantised HSV classes (achromatic ones included).

Features defined only by their formula (color_variety, color_contrast, metallic, roughness,
local_contrast, spectral_entropy, graph_density, the curvatures, complexity, betti_1) have no
second, independent meaning to check here; test_extract.py checks them on constructed shapes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from feature_shapes import disk_mask
from PIL import Image, ImageFont
from scipy import ndimage
from scipy.stats import pearsonr, spearmanr
from skimage.color import hsv2rgb, rgb2gray, rgb2hsv, rgb2lab
from skimage.measure import regionprops

from fromnoise.features import extract
from fromnoise.features.color import dominant_colour
from fromnoise.features.topology import _fiedler, _largest_component

CLIPART = Path("/usr/share/openclipart/png")  # Debian package openclipart-png
FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")  # Debian package fonts-noto-color-emoji
SIZE = 64
# The first 24 files drawn at random (numpy seed 1) from the package among those with alpha
# and an object covering at least 5 % of the frame, kept as drawn.
CLIPART_FILES = (
    "computer/icons/flat-theme/action/cdcopy.png",
    "computer/icons/inkscape.png",
    "signs_and_symbols/map_symbols/hill_-_rpg_map_elements_04.png",
    "food/fruit/another_apple_01.png",
    "computer/cleanpalm_teudimundo_01.png",
    "people/stickmen/blueman_201_01.png",
    "computer/icons/flat-theme/action/kdat.png",
    "transportation/roadsigns/man_w_umbrella.png",
    "computer/icons/flat-theme/action/netactivity_tx.png",
    "geography/war_drum_enrique_meza_c_01.png",
    "transportation/aiga-symbols/aiga_stairs_down1.png",
    "computer/lcd_monitor_the_structor_.png",
    "recreation/games/cards/ornamental/ornamental_h_q.png",
    "food/meats_and_eggs/hamburger_bw.png",
    "people/rich_young_man_counting_01.png",
    "computer/icons/flat-theme/applications/date.png",
    "geography/navarra_01.png",
    "recreation/sports/sport_garudasana.png",
    "computer/munch_student_zazou.png",
    "computer/icons/flat-theme/applications/package_games_strategy.png",
    "signs_and_symbols/flags/signalflag_7.png",
    "food/fruit/lemon_whole_ganson.png",
    "signs_and_symbols/flags/europe/france/france_basse_normandie.png",
    "unsorted/pennuto01.png",
)
EMOJI = {
    "red_circle": 0x1F534, "blue_circle": 0x1F535, "green_circle": 0x1F7E2, "yellow_circle": 0x1F7E1,
    "white_circle": 0x26AA, "black_circle": 0x26AB, "black_square": 0x2B1B, "fire": 0x1F525,
    "blue_heart": 0x1F499, "droplet": 0x1F4A7, "doughnut": 0x1F369, "cd": 0x1F4BF,
    "penguin": 0x1F427, "elephant": 0x1F418, "moai": 0x1F5FF, "maple_leaf": 0x1F341,
}


def square_rgba(image: Image.Image) -> np.ndarray:
    """(SIZE, SIZE, 4) uint8: the object cropped to its alpha box, centred on a square, resized."""
    image = image.convert("RGBA")
    image = image.crop(image.getchannel("A").getbbox())
    side = max(image.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return np.asarray(square.resize((SIZE, SIZE), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def clipart() -> list[np.ndarray]:
    paths = [CLIPART / f for f in CLIPART_FILES]
    if not all(p.is_file() for p in paths):
        pytest.fail("the Debian package openclipart-png is not installed (make test installs it)")
    return [square_rgba(Image.open(p)) for p in paths]


@pytest.fixture(scope="module")
def emoji() -> dict[str, np.ndarray]:
    if not FONT.is_file():
        pytest.fail("the Debian package fonts-noto-color-emoji is not installed (make test installs it)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.emoji_dataset import NATIVE_SIZE, render_glyph

    font = ImageFont.truetype(str(FONT), NATIVE_SIZE)
    return {name: np.asarray(render_glyph(font, cp, SIZE)) for name, cp in EMOJI.items()}


@pytest.fixture(scope="module")
def features(clipart, emoji) -> dict[str, tuple[np.ndarray, dict[str, float]]]:
    """name (clip-art path or emoji name) -> (RGBA uint8 image, its 32 features)."""
    images = {**dict(zip(CLIPART_FILES, clipart)), **emoji}
    return {name: (img, extract(img).as_dict()) for name, img in images.items()}


@pytest.fixture(scope="module")
def measured(features) -> list[tuple[np.ndarray, dict[str, float]]]:
    """(RGBA uint8 image, its 32 features) for every real image."""
    return list(features.values())


def object_pixels(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The alpha mask and the object's RGB pixels seen on white, computed here from scratch."""
    a = rgba[..., 3:4] / 255.0
    rgb = rgba[..., :3] / 255.0 * a + (1.0 - a)
    mask = rgba[..., 3] > 127
    return mask, rgb


def majority_colour(hsv: np.ndarray) -> tuple[int, float, float]:
    """The most common of 16 colour classes (black; three greys by value; 12 hues of 30 degrees)
    and the median S and V of its pixels: the majority colour as a colour name would give it."""
    h, s, v = hsv.T
    grey = 1 + np.minimum((v - 0.25) // 0.25, 2).astype(int)
    classes = np.where(v < 0.25, 0, np.where(s < 0.2, grey, 4 + (h * 12).astype(int) % 12))
    top = np.bincount(classes, minlength=16).argmax()
    return int(top), float(np.median(s[classes == top])), float(np.median(v[classes == top]))


def circular_distance(a: float, b: float) -> float:
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


# ------------------------------------------------------------------ the dominant colour
def accent_image(accent_share: float, body=(0.55, 0.55, 0.55), accent=(0.9, 0.1, 0.1)) -> np.ndarray:
    """A shaded disk of ``body`` colour with a vivid ``accent`` band covering accent_share of it."""
    mask = disk_mask(64, 24)
    yy = np.mgrid[:64, :64][0].astype(float)
    shade = 0.8 + 0.4 * (yy - 8) / 48  # lighting: the body's value changes by +-20 % top to bottom
    img = np.zeros((64, 64, 4))
    img[..., :3] = np.clip(np.asarray(body) * shade[..., None], 0, 1)
    rows = np.flatnonzero(mask.any(axis=1))
    cum = np.cumsum(mask[rows].sum(axis=1)) / mask.sum()
    band = rows[: np.searchsorted(cum, accent_share) + 1]
    img[band[:, None], np.arange(64)[None, :], :3] = accent
    img[..., 3] = mask
    return img


def test_mostly_grey_object_with_a_vivid_accent_has_a_grey_dominant_colour():
    grey = extract(accent_image(0.15)).as_dict()
    assert grey["dominant_sat"] < 0.05  # the body's grey, not the accent's red
    assert grey["dominant_val"] == pytest.approx(0.55, abs=0.06)
    assert circular_distance(grey["dominant_hue"], 0.0) < 0.03  # a grey has no hue: the accent's
    # once the red is the majority, it is the dominant colour
    red = extract(accent_image(0.7)).as_dict()
    assert red["dominant_sat"] > 0.8 and red["dominant_val"] > 0.8
    # a vivid body with a grey accent: the body's colour, whatever the accent
    blue = extract(accent_image(0.2, body=(0.1, 0.3, 0.9), accent=(0.5, 0.5, 0.5))).as_dict()
    assert blue["dominant_sat"] > 0.8 and blue["dominant_hue"] == pytest.approx(225 / 360, abs=0.03)


def test_dominant_colour_ignores_pixel_order_and_counts_shades_as_one_colour():
    rng = np.random.default_rng(0)
    # a red shaded over a wide range of value (55 % of the pixels) against a flat grey (45 %)
    value = rng.uniform(0.45, 1.0, 550)
    red = hsv2rgb(np.stack([np.zeros(550), np.full(550, 0.85), value], axis=1)[None])[0]
    grey = np.full((450, 3), 0.6)
    lab = rgb2lab(np.concatenate([red, grey])[None])[0]
    hue, sat, val = dominant_colour(lab)
    assert sat > 0.7 and circular_distance(hue, 0.0) < 0.02  # the red shades together outnumber the grey
    assert dominant_colour(lab[rng.permutation(len(lab))]) == (hue, sat, val)


def test_dominant_sat_and_val_rank_real_objects_like_their_majority_colour(measured):
    ours, majority = [], []
    for img, f in measured:
        mask, rgb = object_pixels(img)
        _, s, v = majority_colour(rgb2hsv(rgb)[mask])
        ours.append((f["dominant_sat"], f["dominant_val"]))
        majority.append((s, v))
    ours, majority = np.array(ours), np.array(majority)
    for k in range(2):  # saturation, value
        assert spearmanr(ours[:, k], majority[:, k])[0] > 0.85
        assert np.mean(np.abs(ours[:, k] - majority[:, k])) < 0.07


def test_dominant_hue_is_the_hue_of_the_largest_chromatic_class(measured):
    misses = []
    for img, f in measured:
        mask, rgb = object_pixels(img)
        h, s, v = rgb2hsv(rgb)[mask].T
        vivid = (s >= 0.2) & (v >= 0.25)
        if vivid.sum() < 20:
            continue
        bins = (h[vivid] * 12).astype(int) % 12
        top = h[vivid][bins == np.bincount(bins).argmax()]
        ref = np.angle(np.exp(2j * np.pi * top).mean()) / (2 * np.pi) % 1.0
        misses.append(circular_distance(f["dominant_hue"], ref) > 1 / 12)  # more than 30 degrees off
    assert len(misses) >= 25 and np.mean(misses) <= 0.1


def test_named_emoji_read_as_what_they_show(features):
    f = {name: features[name][1] for name in EMOJI}
    for name, hue in (("red_circle", 0.0), ("yellow_circle", 50 / 360), ("green_circle", 90 / 360),
                      ("blue_circle", 210 / 360)):
        assert circular_distance(f[name]["dominant_hue"], hue) < 20 / 360, name
        assert f[name]["dominant_sat"] > 0.5, name
    assert f["white_circle"]["dominant_sat"] < 0.1 and f["white_circle"]["dominant_val"] > 0.8
    assert f["black_circle"]["dominant_val"] < 0.35 and f["black_square"]["dominant_val"] < 0.35
    for name in ("penguin", "elephant", "moai"):  # black, white or grey animals with small orange bits
        assert f[name]["dominant_sat"] < 0.15, name
    for name in ("fire", "maple_leaf"):
        assert f[name]["temperature"] > 0.4, name
    for name in ("blue_heart", "droplet"):
        assert f[name]["temperature"] < -0.4, name
    assert f["doughnut"]["num_holes"] == 1 and f["cd"]["num_holes"] == 1 and f["red_circle"]["num_holes"] == 0
    assert f["red_circle"]["circularity"] > f["black_square"]["circularity"] > f["maple_leaf"]["circularity"]
    assert f["black_square"]["solidity"] > 0.97 > f["maple_leaf"]["solidity"]


# ------------------------------------------------------------ plain statistics over the object
def test_hsv_and_luminance_statistics_match_a_direct_computation(measured):
    for img, f in measured:
        mask, rgb = object_pixels(img)
        s = rgb2hsv(rgb)[..., 1][mask]
        y = rgb2gray(rgb)[mask]
        assert f["sat_variation"] == pytest.approx(s.std(), abs=1e-9)
        assert f["brightness_var"] == pytest.approx(y.std(), abs=1e-9)
        assert f["shadow_intensity"] == pytest.approx(1 - np.percentile(y, 10), abs=1e-9)
        assert f["reflectivity"] == pytest.approx(np.percentile(y, 95) - np.percentile(y, 50), abs=1e-9)


def test_soft_shares_track_hard_pixel_counts(measured):
    soft, hard = [], []
    for img, f in measured:
        mask, rgb = object_pixels(img)
        _, s, v = rgb2hsv(rgb)[mask].T
        y = rgb2gray(rgb)[mask]
        soft.append([f["high_sat_ratio"], f["specular_highlights"], f["shadow_ratio"]])
        hard.append([np.mean((s > 0.5) & (v > 0.2)), np.mean((v > 0.85) & (s < 0.25)),
                     np.mean(y < 0.6 * max(np.median(y), 0.05))])
    soft, hard = np.array(soft), np.array(hard)
    for k in range(3):  # Pearson: many objects have no highlight at all, ties that blunt a rank test
        assert pearsonr(soft[:, k], hard[:, k])[0] > 0.95
        assert np.mean(np.abs(soft[:, k] - hard[:, k])) < 0.04


def test_object_background_contrast_ranks_like_the_distance_to_white(measured):
    white = rgb2lab(np.ones((1, 1, 3)))[0, 0]
    ours, direct = [], []
    for img, f in measured:
        mask, rgb = object_pixels(img)
        ours.append(f["obj_bg_contrast"])
        direct.append(np.linalg.norm(rgb2lab(rgb)[mask].mean(axis=0) - white) / 100)
    # not equal: the background is every pixel outside the mask, so soft shadows count in it
    assert spearmanr(ours, direct)[0] > 0.97
    assert np.median(np.abs(np.subtract(ours, direct))) < 0.03


# ------------------------------------------------------------------ shape and topology
def test_shape_and_topology_match_regionprops_on_the_alpha_mask(measured):
    for img, f in measured:
        mask, _ = object_pixels(img)
        props = regionprops(mask.astype(np.uint8))[0]
        holes = ndimage.label(ndimage.binary_fill_holes(mask) & ~mask)[1]  # 4-connected background pockets
        assert f["circularity"] == pytest.approx(min(1.0, 4 * np.pi * props.area / props.perimeter ** 2))
        assert f["solidity"] == pytest.approx(props.solidity)
        assert f["euler_char"] == np.clip(props.euler_number, -20, 20)
        assert f["genus"] == min(max(0, 1 - props.euler_number), 20)
        assert f["num_holes"] == min(holes, 20)


def test_spectral_gap_is_small_for_thin_shapes_and_ranks_like_compactness(measured):
    bar = np.zeros((64, 64), bool)
    bar[30:34, 4:60] = True
    yy, xx = np.mgrid[:64, :64]
    ellipse = ((yy - 32) / 8) ** 2 + ((xx - 32) / 28) ** 2 <= 1
    disk = _fiedler(disk_mask(64, 20))
    assert _fiedler(bar) < disk / 5 and _fiedler(ellipse) < disk / 2
    for size, radius in ((32, 8), (256, 90)):  # scale-free: the same disk at other sizes
        assert _fiedler(disk_mask(size, radius)) == pytest.approx(disk, rel=0.1)
    gaps, compactness = [], []
    for img, f in measured:
        props = regionprops(_largest_component(object_pixels(img)[0]).astype(np.uint8))[0]
        gaps.append(f["spectral_gap"])
        compactness.append(props.area / props.feret_diameter_max ** 2)
    assert spearmanr(gaps, compactness)[0] > 0.7
