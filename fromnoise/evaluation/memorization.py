"""Does the model copy its training images? Nearest training images of generated samples.

For each generated image: its nearest and second-nearest training image in a space, by
Euclidean distance. Gu et al. 2023 (arxiv 2310.02664, sail-sg/DiffMemorize) call a sample
memorized when ``d1 < d2 / 3``: it sits much closer to one training image than to any other,
as a copy does (a new image sits about as far from its nearest as from its second nearest).
Beside it, the same nearest distance for held-out real images (Carlini et al. 2023, arxiv
2301.13188): the distance a new real image has; a model that copies sits far below it.

Two spaces:

- pixels: images at most 32x32 (area-resized), values in [0, 1]; an RGBA object is composited
  on white (the colour inside its mask, as the features and the Inception network see it);
- Inception: the 2,048-d pool features of the network FID uses (:mod:`.inception`).

The search walks the training set in chunks with a running top-2, so memory is the training
set as stored (uint8 images, or features) plus one ``(N, chunk)`` distance block: 60,000
training images of 28x28 take ~50 MB as uint8 and ~200 MB as float pixels, never held at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data import canonical_source, load_dataset
from ..errors import UserError
from .inception import InceptionFeatures

RATIO = 3.0  # Gu et al.: memorized when d1 < d2 / 3
PIXEL_SIDE = 32  # pixel space: at most 32x32
INCEPTION_TRAIN_LIMIT = 10_000  # Inception space: the first 10,000 training images (0.4 s each on a CPU)
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95)


def pixel_space(images_uint8: torch.Tensor, side: int = PIXEL_SIDE) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> float32 ``(N, D)``: values in [0, 1], RGBA composited on white,
    resized (antialiased) to at most ``side`` x ``side``."""
    x = images_uint8.float() / 255.0
    if x.shape[1] == 4:  # the colour inside the mask: the object on white
        alpha = x[:, 3:4]
        x = x[:, :3] * alpha + (1.0 - alpha)
    if max(x.shape[-2:]) > side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return x.flatten(1)


def nearest_two(queries: torch.Tensor, train: torch.Tensor, *, chunk: int = 4096,
                embed: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices of each query's nearest and second-nearest training row.

    Args:
        queries: ``(N, D)`` points.
        train: ``(M, ...)`` training set, M >= 2, walked ``chunk`` rows at a time.
        embed: maps a chunk of ``train`` to ``(chunk, D)`` (e.g. :func:`pixel_space` on uint8 images),
            so the whole training set is never converted at once. Default: flatten.

    Returns:
        ``(dist, index)``, each ``(N, 2)``: column 0 the nearest, column 1 the second nearest.
    """
    if len(train) < 2:
        raise UserError(f"the nearest-neighbour test needs at least 2 training images, got {len(train)}")
    embed = embed or (lambda rows: rows.flatten(1))
    dtype = torch.promote_types(queries.dtype, torch.float32)
    q = queries.to(dtype)
    q_sq = (q * q).sum(1, keepdim=True)  # (N, 1)
    best_d = torch.full((len(q), 2), float("inf"), dtype=dtype)
    best_i = torch.zeros((len(q), 2), dtype=torch.long)
    for start in range(0, len(train), chunk):
        t = embed(train[start:start + chunk]).to(dtype)  # (C, D)
        # |q - t|^2 = |q|^2 + |t|^2 - 2 q.t, one matrix product per chunk; clamped (rounding can go below 0)
        d2 = (q_sq + (t * t).sum(1)[None] - 2.0 * q @ t.T).clamp_min_(0)  # (N, C)
        _, i = d2.topk(min(2, d2.shape[1]), dim=1, largest=False)  # (N, k) this chunk's two nearest
        # their distances again, directly: the expansion loses digits when |q| >> |q - t| (a copy's d1 is
        # 0, not 0.02); only the order of near-ties can differ, which the ratio test does not see
        d = (q[:, None, :] - t[i]).square().sum(-1)  # (N, k)
        cand_d = torch.cat([best_d, d], 1)
        cand_i = torch.cat([best_i, i + start], 1)
        d, order = cand_d.topk(2, dim=1, largest=False)  # running top-2 of (best so far, this chunk's)
        best_d, best_i = d, cand_i.gather(1, order)
    return best_d.sqrt(), best_i


def nearest_two_mirrored(queries: torch.Tensor, mirrored: torch.Tensor, train: torch.Tensor, *, chunk: int = 4096,
                         embed: Callable[[torch.Tensor], torch.Tensor] | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nearest_two` up to mirroring, for a model trained on left-right flipped images too (which may
    copy a training image mirrored): the distance to a training image is the smaller of the query's and of its
    mirror image's (``mirrored``: the queries flipped left-right, embedded the same way), since
    ``d(q, flip x) = d(flip q, x)``. The two searches' top-2 lists hold the answer: the nearest image is the
    nearest of either, and the second nearest is within the top 2 of the orientation it is nearest in."""
    d_a, i_a = nearest_two(queries, train, chunk=chunk, embed=embed)
    d_b, i_b = nearest_two(mirrored, train, chunk=chunk, embed=embed)
    d, order = torch.cat([d_a, d_b], 1).sort(dim=1)  # (N, 4), an image may appear twice
    i = torch.cat([i_a, i_b], 1).gather(1, order)
    other = (i != i[:, :1]).long().argmax(1, keepdim=True)  # the first entry of another image
    return torch.cat([d[:, :1], d.gather(1, other)], 1), torch.cat([i[:, :1], i.gather(1, other)], 1)


def nearest_two_images(embed_queries: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                       train: torch.Tensor, *, mirrored: bool = False, chunk: int = 4096,
                       embed: Callable[[torch.Tensor], torch.Tensor] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nearest_two` of images embedded by ``embed_queries`` (pixels, Inception features), up to
    mirroring when ``mirrored`` (:func:`nearest_two_mirrored`: a run trained with left-right flips)."""
    if not mirrored:
        return nearest_two(embed_queries(images), train, chunk=chunk, embed=embed)
    return nearest_two_mirrored(embed_queries(images), embed_queries(images.flip(-1)), train, chunk=chunk,
                                embed=embed)


def trained_mirrored(config: dict) -> bool:
    """Whether a run's training showed its images mirrored left-right too (``--hflip``, which a masked or
    latent model never uses): its copies may be mirror images of training images."""
    training, conditioning = config.get("training") or {}, config.get("conditioning") or {}
    return bool(training.get("hflip")) and "mask" not in conditioning and config.get("latent") is None


def flagged(d1: torch.Tensor, d2: torch.Tensor, ratio: float = RATIO) -> torch.Tensor:
    """Gu et al.'s ratio test: True where ``d1 < d2 / ratio`` (the sample is close to one training image
    only). An exact copy (d1 = 0) of an image without a duplicate is flagged; a point equidistant to two
    training images (d1 = d2) is not."""
    return d1 < d2 / ratio


def quantiles(values: torch.Tensor) -> dict[str, float]:
    """``{"q01": ..., "q50": ..., "mean": ...}`` of a 1-D tensor."""
    v = values.double().cpu().numpy()
    out = {f"q{round(q * 100):02d}": float(np.quantile(v, q)) for q in QUANTILES}
    out["mean"] = float(v.mean())
    return out


def space_report(sample_d: torch.Tensor, heldout_d1: torch.Tensor, n_train: int, n_heldout_train: int) -> dict:
    """The eval.json entry of one space: flagged share, d1 quantiles of samples and of held-out images."""
    flags = flagged(sample_d[:, 0], sample_d[:, 1])
    return {"flagged_share": float(flags.float().mean()), "flagged": int(flags.sum()), "n_samples": len(sample_d),
            "train_size": n_train, "sample_d1": quantiles(sample_d[:, 0]),
            "n_heldout": len(heldout_d1), "heldout_train_size": n_heldout_train,
            "heldout_d1": quantiles(heldout_d1)}


def training_set(source: str, config: dict, *, limit_from_config: bool = True):
    """The run's training images at its resolution and channels (the first ``data.n`` images of ``source``,
    as training read them). A source that cannot be read is a UserError naming it and the way to point at it."""
    image, data = config["image"], config.get("data") or {}
    limit = data.get("n") if limit_from_config else None
    try:
        return load_dataset(source, image_size=int(image["size"]), channels=int(image["channels"]),
                            train=True, limit=int(limit) if limit else None)
    except UserError as err:
        raise UserError(f"--memorization needs the run's training images, and '{source}' cannot be read "
                        f"({str(err).rstrip('.')}); pass --dataset NAME_OR_FOLDER to point at them") from None


def heldout_set(source: str, config: dict, train_images: torch.Tensor, n: int) -> tuple[torch.Tensor, int, str]:
    """Up to ``n`` real images the model never saw, the training rows to search them in, and a note.

    A named data set gives its test split (searched among the whole training set). A folder has
    none: its last ``k`` images (``k = min(n, M // 10)``, at least 1) are held out of the search
    (the samples are still searched among all M)."""
    image = config["image"]
    if canonical_source(str(source)) is not None:  # a named data set: its test split
        try:
            test = load_dataset(source, image_size=int(image["size"]), channels=int(image["channels"]),
                                train=False, limit=n)
            if test.description.get("split") == "test":
                return test.images, len(train_images), "the test split"
        except UserError:
            pass  # its test files are absent and cannot be downloaded: a slice of the training set, as for a folder
    m = len(train_images)
    k = min(n, max(1, m // 10))
    if m - k < 2:
        raise UserError(f"the training set has {m} images: too few to hold some out and keep 2 to search")
    return train_images[m - k:], m - k, (f"the last {k} training images, left out of the search for them "
                                         "(this data set has no test split)")


def memorization_report(samples_uint8: torch.Tensor, train_uint8: torch.Tensor, heldout_uint8: torch.Tensor,
                        heldout_search: int, inception: InceptionFeatures | None = None,
                        train_features: np.ndarray | None = None, batch_size: int = 64,
                        chunk: int = 4096, mirrored: bool = False) -> tuple[dict, dict]:
    """Nearest training images of samples and of held-out images, in pixels and (given ``inception``)
    in Inception features.

    Args:
        samples_uint8, train_uint8, heldout_uint8: uint8 ``(N, C, H, W)`` images of one shape.
        heldout_search: held-out images are searched among ``train_uint8[:heldout_search]``.
        train_features: Inception features of the first rows of ``train_uint8`` (computed when None).
        mirrored: distances up to mirroring (:func:`nearest_two_mirrored`; a run trained with ``--hflip``),
            for the samples and the held-out images alike.

    Returns:
        ``(report, neighbours)``: the JSON-able report per space, and per space the ``(dist, index)``
        tensors of the samples (for the figure).
    """
    def search(embed_queries, images, train, embed=None):
        return nearest_two_images(embed_queries, images, train, mirrored=mirrored, chunk=chunk, embed=embed)

    report, neighbours = {}, {}
    up_to = "; distances up to mirroring (trained with --hflip)" if mirrored else ""
    d, i = search(pixel_space, samples_uint8, train_uint8, pixel_space)
    held_d, _ = search(pixel_space, heldout_uint8, train_uint8[:heldout_search], pixel_space)
    report["pixels"] = {"space": f"pixels, at most {PIXEL_SIDE}x{PIXEL_SIDE}, values in [0, 1], "
                                 "RGBA composited on white" + up_to,
                        **space_report(d, held_d[:, 0], len(train_uint8), heldout_search)}
    neighbours["pixels"] = (d, i)
    if inception is not None:
        m = min(len(train_uint8), INCEPTION_TRAIN_LIMIT)
        if train_features is None:
            train_features = inception(train_uint8[:m], batch_size=batch_size)
        train_f = torch.from_numpy(np.asarray(train_features[:m], dtype=np.float32))
        def features(images):
            return torch.from_numpy(inception(images, batch_size=batch_size).astype(np.float32))

        d, i = search(features, samples_uint8, train_f)
        held_d, _ = search(features, heldout_uint8, train_f[:min(m, heldout_search)])
        report["inception"] = {"space": "Inception-v3 pool features (2,048-d), the network FID uses"
                                        + (f"; the first {m:,} training images" if m < len(train_uint8) else "")
                                        + up_to,
                               **space_report(d, held_d[:, 0], m, min(m, heldout_search))}
        neighbours["inception"] = (d, i)
    return report, neighbours
