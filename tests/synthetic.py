"""Tiny synthetic data shared by the tests."""

import torch

from fromnoise.data import ImageData


def squares(n: int = 32, size: int = 8, labelled: bool = False) -> ImageData:
    """Bright 3x3 squares at fixed random positions on black; with ``labelled``, two classes a/b."""
    g = torch.Generator().manual_seed(0)
    imgs = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    for i in range(n):
        r, c = torch.randint(0, size - 3, (2,), generator=g).tolist()
        imgs[i, 0, r:r + 3, c:c + 3] = 255
    if labelled:
        return ImageData(images=imgs, labels=torch.arange(n) % 2, class_names=["a", "b"], captions=None,
                         description={"source": "synthetic", "n": n}, files=None)
    return ImageData(images=imgs, description={"source": "synthetic", "n": n})


def feature_objects_run(tmp_path, steps: int):
    """(folder, run): 12 coloured discs (RGBA, 16x16) and a tiny features + mask model trained ``steps`` steps on
    them, for the benches' end-to-end tests."""
    import numpy as np
    from PIL import Image
    from skimage.draw import disk

    from fromnoise.build import make_config
    from fromnoise.conditioning.tables import setup_conditioning
    from fromnoise.data import load_dataset
    from fromnoise.training.trainer import Trainer, TrainOptions

    folder = tmp_path / "objects"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        img = np.zeros((16, 16, 4), np.uint8)
        img[disk((8, 8), 3 + i % 4)] = (*rng.integers(0, 256, 3), 255)
        Image.fromarray(img, "RGBA").save(folder / f"o_{i:02d}.png")
    data = load_dataset(folder, image_size=16, channels=3)
    conditioning, tables = setup_conditioning("features", data, 32, mask=True, workers=1)
    config = make_config("tiny", image_size=16, channels=3, conditioning=conditioning,
                         model_overrides={"channels": (8, 16), "emb_dim": 32})
    opts = TrainOptions(out=str(tmp_path / "run"), steps=steps, batch_size=4, warmup=1, sample_every=10**6,
                        save_every=10**6, num_samples=2, sample_steps=2, progress=False)
    Trainer(config, data, opts, tables).run()
    return folder, tmp_path / "run"
