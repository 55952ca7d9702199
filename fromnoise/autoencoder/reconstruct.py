"""What ``fromnoise sample`` and ``fromnoise info`` do with an autoencoder run (``fromnoise train-autoencoder``).

``sample AE_RUN``: the first N images of the data it was trained on, their reconstructions
(the posterior mode, decoded) below them, as a grid and as PNGs, with the PSNR and SSIM of each.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import list_checkpoints, read_checkpoint
from ..data import composite_alpha, load_dataset, to_float
from ..errors import UserError
from ..models import count_parameters
from ..viz import save_grid, save_images
from .config import KIND, autoencoder_config
from .latent_config import LatentConfig
from .latent_model import autoencoder_dir, read_run_autoencoder
from .losses import ssim
from .model import Autoencoder, load_autoencoder


def is_autoencoder_run(path: str | Path) -> bool:
    """Whether ``path`` (a run or checkpoint directory) holds an autoencoder rather than a diffusion model."""
    _, config, _ = read_checkpoint(path)
    return isinstance(config, dict) and config.get("kind") == KIND


def training_images(config: dict, n: int):
    """The first ``n`` images an autoencoder run was trained on, loaded as it loaded them."""
    data, ae = config.get("data") or {}, config["autoencoder"]
    source = data.get("path") if data.get("source") == "folder" else data.get("source")
    if not source:
        raise UserError("the autoencoder run does not say which images it was trained on (config.json 'data')")
    try:
        return load_dataset(source, image_size=ae["image_size"], channels=ae["channels"], limit=n)
    except UserError as err:
        raise UserError(f"cannot load the images the autoencoder was trained on ({err}); "
                        f"the originals come from {source}") from None


@torch.no_grad()
def reconstruct(ae, data) -> tuple[torch.Tensor, torch.Tensor]:
    """(originals, reconstructions), (N, C, H, W) in [0, 1]: RGBA composited over white as in training."""
    x = to_float(composite_alpha(data).images)
    rec = torch.cat([ae.decode(ae.encode(chunk).mode()).clamp(-1, 1) for chunk in x.split(4)])
    return (x + 1) / 2, (rec + 1) / 2


def sample_autoencoder(path: str | Path, n: int, out: str | Path | None = None, device: str = "cpu") -> str:
    """Write originals beside reconstructions (``grid.png``: originals on top; ``images/``); returns a summary."""
    ckpt, config, _ = read_checkpoint(path)
    ae = load_autoencoder(ckpt, device=device)
    data = training_images(config, n)
    orig, rec = reconstruct(ae, data)
    out_dir = Path(out) if out else ckpt.parent.parent / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    both = torch.cat([orig, rec])
    grid = save_grid(both[:, :3], out_dir / "grid.png", nrow=len(orig))  # RGBA: the colour (as the trainer's grids)
    save_images(orig, out_dir / "images", prefix="original")
    save_images(rec, out_dir / "images", prefix="reconstruction")
    mse = (orig - rec).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    psnr = float((-10 * torch.log10(mse)).mean())
    quality = f"PSNR {psnr:.1f} dB"
    if min(orig.shape[-2:]) >= 11:
        quality += f", SSIM {float(ssim(orig, rec)):.3f}"
    return (f"wrote {grid} (top: {len(orig)} originals, bottom: their reconstructions; {quality}) and "
            f"{2 * len(orig)} images in {out_dir / 'images'}")


def describe_autoencoder(path: str | Path) -> str:
    """``fromnoise info`` of an autoencoder run: its architecture, latent shape, training and data."""
    ckpt, config, state = read_checkpoint(path)
    c = autoencoder_config(config, where=f"'{ckpt}'")
    with torch.device("meta"):
        params = count_parameters(Autoencoder(c))
    data, training = config.get("data") or {}, config.get("training") or {}
    size = sum(p.stat().st_size for p in ckpt.iterdir()) / 1e6
    lines = [
        f"checkpoint   {ckpt} ({size:.1f} MB)",
        (f"autoencoder  KL autoencoder, factor {c.factor}, widths {','.join(map(str, c.widths))}, "
        f"{c.num_res_blocks} ResBlock(s) per level, {params / 1e6:.2f}M parameters"),
        (f"images       {c.channels} x {c.image_size} x {c.image_size} -> latents {c.latent_channels} x "
        f"{c.latent_size}x{c.latent_size}"),
        (f"trained      {state.get('step', '?')} steps, {state.get('images_seen', '?')} images seen, "
        f"batch {training.get('batch_size', '?')}, lr {training.get('lr', '?')}"),
        f"data         {data.get('source', '?')} {data.get('path', '') or ''} ({data.get('n', '?')} images)",
        ("next         fromnoise sample RUN (originals beside reconstructions); "
        "fromnoise train DATA --autoencoder RUN (latent diffusion)"),
    ]
    others = list_checkpoints(ckpt.parent.parent) if ckpt.parent.name == "checkpoints" else []
    if others:
        lines.append(f"all saved    {', '.join(p.name for p in others)}")
    return "\n".join(lines)


def describe_latent(config: dict, ckpt: str | Path) -> str:
    """``fromnoise info``'s line for a latent diffusion model (its autoencoder folder checked)."""
    lat = LatentConfig.from_dict(config["latent"], where="config.json")
    side = config["image"]["size"] // lat.factor
    folder = autoencoder_dir(ckpt)
    read_run_autoencoder(folder, lat)  # a damaged or missing folder is a UserError naming it
    return (f"latent       {lat.latent_channels} x {side}x{side} latents (factor {lat.factor}, scale {lat.scale:.4g}), "
            f"decoded by {folder} (checked)")
