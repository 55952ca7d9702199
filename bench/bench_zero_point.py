"""The zero point of FID and KID: Fashion-MNIST *training* images scored against *test* images
at the same N as the generated-image benchmarks. No model can be expected to score below real
images of the same distribution, so this is the floor every other figure is read against.

    python bench/bench_zero_point.py [--samples 2000] [--threads 2]

KID is unbiased (its mean is ~0 for two samples of one distribution at any N); FID is biased
upwards at small N and needs N >= 2,048 for a non-singular covariance, so below that it is
computed anyway (``allow_small``) and only comparable to other figures at the same N.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import torch
from common import write_result

from fromnoise.evaluation import FeatureStats, InceptionFeatures, reference_stats
from fromnoise.evaluation.reference import compare_features

DATASET = "fashion-mnist"


def test_reference(n: int, inception: InceptionFeatures) -> FeatureStats:
    """Inception statistics of the first ``n`` Fashion-MNIST test images (28x28, 1 channel); the
    cache featurises only images that no cached N has seen."""
    return reference_stats(DATASET, image_size=28, channels=1, split="test", n=n, inception=inception)


def score(features, ref) -> dict:
    """KID (and FID, allowed below 2,048 samples) of ``features`` against ``ref``, float values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # subsets of half the set below 2,000 samples: subsets of the whole set would all be equal (std 0)
        return compare_features(features, ref, allow_small=True,
                                kid_subset_size=min(1000, max(2, min(len(features), ref.n) // 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=2000, help="images per side (train and test)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t0 = time.time()
    inception = InceptionFeatures()
    ref = test_reference(args.samples, inception)
    train = reference_stats(DATASET, image_size=28, channels=1, split="train", n=args.samples, inception=inception)
    scores = score(train.features, ref)
    print(f"zero point, train vs test, N={args.samples}: KID {scores['kid']:.5f} ± {scores['kid_std']:.5f}, "
          f"FID {scores['fid']:.3f}")
    write_result("zero_point", {"n": args.samples, "kid": scores["kid"], "kid_std": scores["kid_std"],
                                "fid": scores["fid"], "seconds": time.time() - t0,
                                "load_avg_before": load_before, "load_avg_after": os.getloadavg()})


if __name__ == "__main__":
    main()
