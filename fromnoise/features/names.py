"""The 32 visual features of YouAndMeNet (reference 000): names, groups, definitions.

The order of :data:`FEATURE_NAMES` is the order of every feature vector in fromnoise
(extraction, normalisation, conditioning); it never changes once committed.

Notation used in the definitions below:
  ``I``  the RGB image in [0, 1] (an RGBA image is composited over white, see
         :data:`fromnoise.features.extract.BACKGROUND`);
  ``M``  the object mask (:func:`fromnoise.features.mask.compute_mask`); "over M" means
         over the object pixels (the whole image when M is empty);
  ``H, S, V`` from ``skimage.color.rgb2hsv``; chroma ``C = S * V``;
  ``Y``  luminance, ``skimage.color.rgb2gray`` (Rec. 709 weights);
  ``Lab`` from ``skimage.color.rgb2lab``; ``dE`` the Euclidean (CIE76) Lab distance;
         ``C*ab = sqrt(a*^2 + b*^2)`` the Lab chroma;
  the *dominant colour* is the object's majority colour as colour-palette tools report it:
         the mean colour of the largest cluster of M's pixels, greys included (see
         :mod:`fromnoise.features.color`); a grey object with a small vivid accent has a grey one;
  ``soft(x > t)`` a logistic step of width 0.05 (keeps ratios smooth in the pixels).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureDoc:
    """How one feature is measured: formula, the library call it rests on, raw range."""

    name: str
    group: str
    formula: str
    library: str
    raw_range: tuple[float, float]


_DOCS: tuple[FeatureDoc, ...] = (
    # ---- COLOR ------------------------------------------------------------------------
    FeatureDoc("dominant_hue", "color",
               "H of the largest chromatic colour cluster of M (mean colour with C*ab >= 15; clusters as for "
               "dominant_sat); without one, H of the dominant colour's tint, 0 for a grey (C*ab < 1)",
               "scipy.cluster.vq.kmeans2, skimage.color.deltaE_ciede2000, skimage.color.rgb2hsv", (0.0, 1.0)),
    FeatureDoc("dominant_sat", "color",
               "S of the dominant colour: the mean Lab colour of the largest colour cluster of M, greys "
               "included (k-means, k <= 8, over the Lab pixels of M; clusters linked by a chain of centres "
               "each within 10 CIEDE2000 of the next are one colour (single linkage); the one with the most pixels)",
               "scipy.cluster.vq.kmeans2, scipy.cluster.hierarchy.linkage, skimage.color.deltaE_ciede2000",
               (0.0, 1.0)),
    FeatureDoc("dominant_val", "color", "V of the dominant colour (as dominant_sat)",
               "scipy.cluster.vq.kmeans2, skimage.color.lab2rgb, skimage.color.rgb2hsv", (0.0, 1.0)),
    FeatureDoc("color_variety", "color",
               "Shannon entropy of the 4x4x4 RGB colour histogram over M, divided by log(64)",
               "numpy.histogramdd, scipy.stats.entropy", (0.0, 1.0)),
    FeatureDoc("temperature", "color",
               "mean over M of C * cos(2 pi (H - 30/360)): warm (red..yellow) > 0 > cool (cyan..blue); "
               "0 for greys",
               "skimage.color.rgb2hsv", (-1.0, 1.0)),
    FeatureDoc("sat_variation", "color", "standard deviation of S over M",
               "skimage.color.rgb2hsv, numpy.std", (0.0, 0.5)),
    FeatureDoc("color_contrast", "color",
               "sqrt(var(a*) + var(b*)) over M / 100 (chromatic spread, lightness excluded)",
               "skimage.color.rgb2lab", (0.0, 1.8)),
    FeatureDoc("high_sat_ratio", "color", "mean over M of soft(S > 0.5) * soft(V > 0.2) (vivid pixels)",
               "skimage.color.rgb2hsv", (0.0, 1.0)),
    # ---- LIGHTING ---------------------------------------------------------------------
    FeatureDoc("specular_highlights", "lighting",
               "mean over M of soft(V > 0.85) * soft(S < 0.25) (bright, colourless spots)",
               "skimage.color.rgb2hsv", (0.0, 1.0)),
    FeatureDoc("shadow_intensity", "lighting", "1 - P10(Y over M) (how dark the darkest tenth is)",
               "skimage.color.rgb2gray, numpy.percentile", (0.0, 1.0)),
    FeatureDoc("shadow_ratio", "lighting",
               "mean over M of soft(Y / max(median(Y over M), 0.05) < 0.6) (share of the object in shadow)",
               "skimage.color.rgb2gray, numpy.median", (0.0, 1.0)),
    FeatureDoc("brightness_var", "lighting", "standard deviation of Y over M",
               "skimage.color.rgb2gray, numpy.std", (0.0, 0.5)),
    FeatureDoc("local_contrast", "lighting",
               "mean over M of the local standard deviation of Y in a Gaussian window (sigma 1.5 px), "
               "computed by normalised convolution inside M so the background does not leak in",
               "scipy.ndimage.gaussian_filter", (0.0, 0.5)),
    FeatureDoc("obj_bg_contrast", "lighting",
               "dE(mean Lab over M, mean Lab of the background) / 100; the background is the "
               "complement of M, or the image border when M covers everything; 0 when M is empty",
               "skimage.color.rgb2lab", (0.0, 1.8)),
    # ---- MATERIAL ---------------------------------------------------------------------
    FeatureDoc("reflectivity", "material", "P95(Y over M) - P50(Y over M) (bright reflections over the body)",
               "skimage.color.rgb2gray, numpy.percentile", (0.0, 1.0)),
    FeatureDoc("transparency", "material",
               "mean over M of exp(-dE(pixel, background)^2 / (2 * 15^2)) (background showing through)",
               "skimage.color.rgb2lab", (0.0, 1.0)),
    FeatureDoc("roughness", "material",
               "RMS over M of Y - G_0.7 * Y (finest-scale residual, normalised convolution inside M)",
               "scipy.ndimage.gaussian_filter", (0.0, 1.0)),
    FeatureDoc("metallic", "material", "(1 - mean S over M) * 2 * std(Y over M) (grey yet high-contrast)",
               "skimage.color.rgb2hsv, skimage.color.rgb2gray", (0.0, 1.0)),
    FeatureDoc("color_uniformity", "material",
               "exp(-RMS dE(pixel, mean Lab over M) / 25) (1: one solid colour)",
               "skimage.color.rgb2lab", (0.0, 1.0)),
    # ---- SHAPE (on the mask) ---------------------------------------------------------------
    FeatureDoc("circularity", "shape", "min(1, 4 pi area / perimeter^2) of M taken as one region",
               "skimage.measure.regionprops (area, perimeter)", (0.0, 1.0)),
    FeatureDoc("solidity", "shape", "area(M) / area(convex hull of M)",
               "skimage.measure.regionprops (solidity)", (0.0, 1.0)),
    FeatureDoc("spectral_entropy", "shape",
               "Shannon entropy of the power spectrum |FFT(Y - mean Y)|^2 (DC excluded, no window so it is "
               "shift-invariant) divided by log(number of frequencies); 0 for a flat image",
               "numpy.fft.rfft2", (0.0, 1.0)),
    FeatureDoc("graph_density", "shape",
               "number of 8-neighbour pairs of Canny edge pixels / number of 8-neighbour pairs of object "
               "pixels (the edge subgraph's share of the object's pixel graph)",
               "skimage.feature.canny", (0.0, 1.0)),
    FeatureDoc("mean_curvature", "shape",
               "mean |kappa| * R over the mask contours, R = sqrt(area / pi) (scale-free; a disk gives 1); "
               "contours of the Gaussian-smoothed (sigma 1) mask, resampled at 1 px, smoothed (sigma max(2, R / 10))",
               "skimage.measure.find_contours, scipy.ndimage.gaussian_filter1d", (0.0, 10.0)),
    FeatureDoc("curv_variance", "shape", "standard deviation of the signed kappa * R along the contours",
               "skimage.measure.find_contours", (0.0, 10.0)),
    FeatureDoc("affine_curvature", "shape",
               "cube root of the affine isoperimetric ratio Omega^3 / (8 pi^2 A) of each closed contour, "
               "Omega = sum |kappa|^(1/3) ds its affine perimeter, A its enclosed area; median over contours. "
               "1 for ellipses, lower for polygonal outlines, higher for wiggly ones (Blaschke)",
               "skimage.measure.find_contours", (0.0, 3.0)),
    # ---- TOPOLOGY ----------------------------------------------------------------------
    FeatureDoc("euler_char", "topology", "Euler number of M (objects - holes, 8-connected objects)",
               "skimage.measure.euler_number(connectivity=2)", (-20.0, 20.0)),
    FeatureDoc("genus", "topology",
               "handles of the surface bounding the thickened mask, max(0, 1 - euler_char): the holes of "
               "a connected object, fewer when the mask falls apart in pieces",
               "skimage.measure.euler_number", (0.0, 20.0)),
    FeatureDoc("num_holes", "topology",
               "number of 4-connected background components of M that do not touch the image border",
               "scipy.ndimage.label", (0.0, 20.0)),
    FeatureDoc("complexity", "topology",
               "log2(1 + mean (b0 + b1)) over the 14 luminance level sets {Y >= t}, {Y < t} inside M, "
               "t at the 1/8..7/8 quantiles of Y over M (intricacy of the inner structure)",
               "skimage.measure.label, skimage.measure.euler_number", (0.0, 8.0)),
    FeatureDoc("spectral_gap", "topology",
               "Fiedler value (second-smallest eigenvalue) of the normalised Laplacian of the 8-neighbour "
               "pixel graph of M's largest component, resampled so that it has about 200 pixels (scale set by "
               "the area, not the bounding box): about 1 / (graph diameter)^2, small for thin, long or "
               "dumbbell shapes, large for compact ones; a disk gives 0.021",
               "scipy.sparse.csgraph.laplacian, scipy.linalg.eigh, skimage.transform.resize", (0.0, 2.0)),
    FeatureDoc("betti_1", "topology",
               "mean first Betti number b1 = b0 - euler over the same 14 luminance level sets as complexity "
               "(loops in the inner structure: eyes, windows, rings)",
               "skimage.measure.label, skimage.measure.euler_number", (0.0, 50.0)),
)

FEATURE_DOCS: dict[str, FeatureDoc] = {d.name: d for d in _DOCS}
FEATURE_NAMES: tuple[str, ...] = tuple(d.name for d in _DOCS)
GROUPS: dict[str, tuple[str, ...]] = {
    g: tuple(d.name for d in _DOCS if d.group == g) for g in ("color", "lighting", "material", "shape", "topology")
}
NUM_FEATURES = len(FEATURE_NAMES)
# Circular features wrap around (hue 0 == hue 1): normalised on their fixed range, not percentiles.
CIRCULAR: frozenset[str] = frozenset({"dominant_hue"})
# Groups measured on the object mask: a mask given at generation time overrides their sliders (the page says
# so; bench/bench_sliders.py sweeps them without a mask). Of them, these read the mask alone, no pixel values:
MASK_GROUPS: tuple[str, ...] = ("shape", "topology")
SILHOUETTE_ONLY: frozenset[str] = frozenset({"circularity", "solidity", "mean_curvature", "curv_variance",
                                             "affine_curvature", "euler_char", "genus", "num_holes", "spectral_gap"})

assert NUM_FEATURES == 32 and [len(v) for v in GROUPS.values()] == [8, 6, 5, 7, 6]


def index_of(name: str) -> int:
    """Position of a feature in the 32-vector (KeyError when unknown)."""
    if name not in FEATURE_DOCS:
        raise KeyError(name)
    return FEATURE_NAMES.index(name)
