"""TOPOLOGY features (6): Euler number, genus, holes of the mask; complexity and Betti-1
of the luminance level sets inside the object; spectral gap of the mask's pixel graph.
Definitions in :mod:`.names`.

In 2-D, ``euler = b0 - b1`` (components minus holes). Counting it over a family of level
sets of the luminance (a cheap Euler-characteristic curve, cf. persistent homology) sees
the inner structure of an object (eyes, windows, rings) that its outline does not.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
from scipy import ndimage, sparse
from scipy.linalg import eigh
from scipy.sparse.csgraph import laplacian
from skimage.measure import euler_number, label
from skimage.transform import resize

from fromnoise.features.common import Prepared, prepare

try:  # a 200-node eigenproblem is ~100x slower when BLAS threads fight over 2 busy cores
    from threadpoolctl import ThreadpoolController
except ImportError:  # optional: without it the result is the same, only slower
    ThreadpoolController = None

LEVELS = np.arange(1, 8) / 8.0  # quantiles of the object's luminance
# The mask is resampled so that the object has about this many pixels (graph nodes): its area,
# not its bounding box, sets the scale, so a thin shape becomes a long graph (small gap) and a
# compact one a short graph (large gap), at every image size.
GRAPH_NODES = 200
EIGHT = np.ones((3, 3), bool)
FOUR = ndimage.generate_binary_structure(2, 1)


def count_holes(mask: np.ndarray) -> int:
    """Background components (4-connected) that do not touch the image border."""
    labels, n = ndimage.label(~mask, structure=FOUR)
    if n == 0:
        return 0
    frame = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return int(n - np.count_nonzero(frame))


def _betti(a: np.ndarray) -> tuple[int, int]:
    """(b0, b1) of a binary image, 8-connected objects."""
    if not a.any():
        return 0, 0
    b0 = int(label(a, connectivity=2).max())
    return b0, b0 - int(euler_number(a, connectivity=2))


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask, structure=EIGHT)
    if n <= 1:
        return mask
    return labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)


@functools.cache
def _controller():
    """The BLAS libraries found once: inspecting them takes ~20 ms, as long as the eigenproblem."""
    return ThreadpoolController() if ThreadpoolController else None


def _one_blas_thread():
    controller = _controller()
    return controller.limit(limits=1, user_api="blas") if controller else contextlib.nullcontext()


def _fiedler(mask: np.ndarray) -> float:
    """Second-smallest eigenvalue of the normalised Laplacian of the object's pixel graph.

    The largest component's bounding box is resampled by ``sqrt(GRAPH_NODES / area)`` first
    (same factor on both axes), so the value depends on the shape, not on its size in pixels.
    """
    obj = _largest_component(mask)
    rows, cols = np.nonzero(obj)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    box = obj[r0:r1, c0:c1].astype(np.float64)
    scale = np.sqrt(GRAPH_NODES / rows.size)
    shape = (max(1, round(box.shape[0] * scale)), max(1, round(box.shape[1] * scale)))
    if shape != box.shape:
        box = resize(box, shape, order=1, anti_aliasing=scale < 1)
    grid = _largest_component(box > 0.5)
    n = int(grid.sum())
    if n < 2:
        return 0.0
    index = -np.ones(grid.shape, int)
    index[grid] = np.arange(n)
    padded = np.pad(index, 1, constant_values=-1)
    h, w = grid.shape
    src, dst = [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each undirected 8-neighbour pair once
        a = padded[1:h + 1, 1:w + 1]
        b = padded[1 + dy:h + 1 + dy, 1 + dx:w + 1 + dx]
        both = (a >= 0) & (b >= 0)
        src.append(a[both])
        dst.append(b[both])
    s, d = np.concatenate(src), np.concatenate(dst)
    adj = sparse.coo_matrix((np.ones(s.size), (s, d)), shape=(n, n))
    lap = laplacian((adj + adj.T).toarray(), normed=True)
    with _one_blas_thread():
        fiedler = eigh(lap, eigvals_only=True, subset_by_index=[1, 1])[0]
    return float(np.clip(fiedler, 0.0, 2.0))


def topology_features(rgb: np.ndarray, mask: np.ndarray, prepared: Prepared | None = None) -> dict[str, float]:
    """The 6 TOPOLOGY features of one image.

    Args:
        rgb: (H, W, 3) float in [0, 1]; mask: (H, W) bool object mask.
        prepared: the shared conversions, when the caller already has them.
    Returns:
        name -> raw value; an empty mask gives 0 for all six.
    """
    p = prepared or prepare(rgb, mask)
    if p.empty:
        return dict.fromkeys(("euler_char", "genus", "num_holes", "complexity", "spectral_gap", "betti_1"), 0.0)
    euler = int(euler_number(p.mask, connectivity=2))
    y = p.lum[p.mask]
    b0_sum = b1_sum = 0
    for t in np.quantile(y, LEVELS):
        bright = p.mask & (p.lum >= t)
        for level_set in (bright, p.mask & ~bright):
            b0, b1 = _betti(level_set)
            b0_sum += b0
            b1_sum += b1
    n_sets = 2 * len(LEVELS)
    return {
        "euler_char": float(np.clip(euler, -20, 20)),
        "genus": float(min(max(0, 1 - euler), 20)),
        "num_holes": float(min(count_holes(p.mask), 20)),
        "complexity": float(np.log2(1.0 + (b0_sum + b1_sum) / n_sets)),
        "spectral_gap": _fiedler(p.mask),
        "betti_1": float(min(b1_sum / n_sets, 50.0)),
    }
