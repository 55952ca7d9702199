"""Moving averages of the weights: the classic exponential one, EDM2's power-function profile, and
post-hoc EMA (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of Diffusion
Models", arxiv 2312.02696, section 3).

* ``EMA(model, decay)``: decay_t = min(decay, (1 + t) / (10 + t)) (TensorFlow's warm-up), so short
  runs are not dominated by the random initialisation.
* ``EMA(model, std=0.10)``: EDM2's power-function EMA, beta_t = (1 - 1/t)^(gamma + 1) at update t;
  its averaging profile over the past, p(tau) = (gamma + 1) tau^gamma / t^(gamma + 1), has a width
  relative to the training length (``std``, EDM2's sigma_rel) that stays the same however long one
  trains.
* ``PostHocEMA``: two power EMAs (sigma_rel 0.05 and 0.10, as in EDM2) whose snapshots, saved
  every N steps, are combined afterwards into the EMA of any other sigma_rel
  (``reconstruct``; ``fromnoise posthoc-ema``): the EMA length is chosen after training instead of
  guessed before.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..autoencoder.latent_model import copy_autoencoder
from ..build import load
from ..checkpoint import list_checkpoints, read_checkpoint
from ..errors import UserError
from ..io import atomic_write, replace_dir, write_json

SNAPSHOT_STDS = (0.05, 0.10)  # EDM2's two tracked profiles
SNAPSHOT_DIR = "ema_snapshots"
_SNAPSHOT = re.compile(r"^step_(\d+)\.safetensors$")


def std_to_gamma(std: float) -> float:
    """The exponent gamma of a power-function EMA whose profile has relative standard deviation ``std``.

    sigma_rel^2 = (gamma + 1) / ((gamma + 2)^2 (gamma + 3)), i.e. the largest real root of
    gamma^3 + 7 gamma^2 + (16 - s) gamma + (12 - s) with s = sigma_rel^-2 (EDM2, eq. 3)."""
    if not 0 < std < 12 ** -0.5:  # gamma > -1 needs sigma_rel < 1/sqrt(12) (gamma = 0: uniform average)
        raise ValueError(f"an EMA's relative std must be in (0, {12 ** -0.5:.3f}); got {std}")
    s = std ** -2
    roots = np.roots([1.0, 7.0, 16.0 - s, 12.0 - s])
    return float(max(r.real for r in roots if abs(r.imag) < 1e-9))


def gamma_to_std(gamma: float) -> float:
    """The relative standard deviation sigma_rel of the power-function profile with exponent ``gamma``."""
    return float(np.sqrt((gamma + 1) / ((gamma + 2) ** 2 * (gamma + 3))))


class EMA:
    """Keeps ``self.model``, a frozen copy of the model whose weights trail the live ones.

    Args:
        decay: the classic EMA's decay (with a warm-up), used when ``std`` is None.
        std: EDM2's sigma_rel: a power-function EMA with beta_t = (1 - 1/t)^(gamma + 1).
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, std: float | None = None):
        self.decay = decay
        self.std = std
        self.gamma = std_to_gamma(std) if std else None
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.updates = 0

    def beta(self, t: int) -> float:
        """How much of the average is kept at update ``t`` (1, 2, ...)."""
        if self.gamma is not None:
            return (1 - 1 / t) ** (self.gamma + 1)
        return min(self.decay, (1 + t) / (10 + t))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.beta(self.updates)
        ema_p = [p for p in self.model.parameters()]
        live_p = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_p, live_p, 1 - d)
        for b_ema, b in zip(self.model.buffers(), model.buffers()):
            b_ema.copy_(b)


class PostHocEMA:
    """Two power-function EMAs (``SNAPSHOT_STDS``) updated every step; their ``state()`` is what a
    snapshot file or a checkpoint holds (``std0.050/<name>``: the weights of the sigma_rel-0.05 EMA)."""

    def __init__(self, model: nn.Module, stds: tuple[float, ...] = SNAPSHOT_STDS):
        self.emas = [EMA(model, std=s) for s in stds]

    @property
    def updates(self) -> int:
        return self.emas[0].updates

    @updates.setter
    def updates(self, value: int) -> None:
        for e in self.emas:
            e.updates = value

    def update(self, model: nn.Module) -> None:
        for ema in self.emas:
            ema.update(model)

    def state(self) -> dict[str, torch.Tensor]:
        return {f"std{e.std:.3f}/{k}": v for e in self.emas for k, v in e.model.state_dict().items()}

    def load(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        for e in self.emas:
            prefix = f"std{e.std:.3f}/"
            e.model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        self.updates = updates


def posthoc_coefficients(snapshots: list[tuple[float, float]], target: tuple[float, float]) -> np.ndarray:
    """The weights x of the snapshots whose combination sum_i x_i theta_i is closest to the target EMA.

    ``snapshots``: (t_i, gamma_i) of each saved power EMA (its step and exponent); ``target``: (t, gamma).
    Each power EMA averages the training trajectory with the profile p(tau) = (g+1) tau^g / t^(g+1) on
    [0, t]; x solves least squares between the profiles in L2 (EDM2, appendix C.3), whose inner products
    are <p_i, p_j> = (g_i+1)(g_j+1) m^(g_i+g_j+1) / ((g_i+g_j+1) t_i^(g_i+1) t_j^(g_j+1)), m = min(t_i, t_j).
    """
    scale = max(t for t, _ in [*snapshots, target])
    ts = np.array([t / scale for t, _ in snapshots], dtype=np.float64)
    gs = np.array([g for _, g in snapshots], dtype=np.float64)

    def inner(t1, g1, t2, g2):
        m = np.minimum(t1, t2)
        return (g1 + 1) * (g2 + 1) * m ** (g1 + g2 + 1) / ((g1 + g2 + 1) * t1 ** (g1 + 1) * t2 ** (g2 + 1))

    a = inner(ts[:, None], gs[:, None], ts[None, :], gs[None, :])
    b = inner(ts, gs, target[0] / scale, target[1])
    return np.linalg.lstsq(a, b, rcond=None)[0]


def save_snapshot(run_dir: Path, step: int, posthoc: PostHocEMA) -> Path:
    """Write ``RUN/ema_snapshots/step_X.safetensors`` atomically (written beside, flushed, renamed)."""
    from safetensors.torch import save_file


    final = Path(run_dir) / SNAPSHOT_DIR / f"step_{step:08d}.safetensors"
    tensors = {k: v.detach().contiguous().cpu() for k, v in posthoc.state().items()}
    stds = ",".join(f"{e.std:.3f}" for e in posthoc.emas)
    meta = {"format": "fromnoise-ema-snapshot", "step": str(step), "stds": stds}
    atomic_write(final, lambda tmp: save_file(tensors, tmp, metadata=meta))
    return final


def list_snapshots(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, file) of a run's EMA snapshots, oldest first."""
    root = Path(run_dir) / SNAPSHOT_DIR
    if not root.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _SNAPSHOT.match(p.name)))


def drop_snapshots_after(run_dir: Path, step: int) -> int:
    """Delete the snapshots after ``step`` (a resumed run trains those steps again); how many."""
    gone = [p for s, p in list_snapshots(run_dir) if s > step]
    for p in gone:
        p.unlink()
    return len(gone)


def reconstruct(run_dir: Path, std: float, step: int | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """The weights of a power EMA with relative std ``std`` at ``step`` (default: the last snapshot),
    combined from the run's snapshots; and what was used ({"step", "snapshots", "coefficients"})."""
    from safetensors import safe_open
    from safetensors.torch import load_file


    snaps = list_snapshots(run_dir)
    if step is not None:
        snaps = [(s, p) for s, p in snaps if s <= step]
    if not snaps:
        raise UserError(f"'{run_dir}' holds no EMA snapshots ({SNAPSHOT_DIR}/step_*.safetensors); train with "
                        "--ema-snapshots N to save them every N steps")
    gamma = std_to_gamma(std)
    step = step or snaps[-1][0]
    entries, parts = [], []  # one (t, gamma) per (snapshot, tracked profile), and that profile's tensors
    for s, path in snaps:
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            tensors = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
            raise UserError(f"cannot read the EMA snapshot '{path}' ({err}); delete it or rerun training "
                            "from the checkpoint before it") from None
        if meta.get("format") != "fromnoise-ema-snapshot" or "stds" not in meta:
            raise UserError(f"'{path}' is not a fromnoise EMA snapshot; move it out of {SNAPSHOT_DIR}/")
        for s_std in meta["stds"].split(","):
            prefix = f"std{s_std}/"
            entries.append((float(s), std_to_gamma(float(s_std))))
            parts.append({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    x = posthoc_coefficients(entries, (float(step), gamma))
    out: dict[str, torch.Tensor] = {}
    for name, newest in parts[-1].items():
        if newest.is_floating_point():  # summed in float64, stored in fp32 as trained
            out[name] = sum(float(c) * part[name].double() for c, part in zip(x, parts)).float()
        else:
            out[name] = newest  # integer buffers: the newest snapshot's
    return out, {"step": step, "std": std, "snapshots": [s for s, _ in snaps],
                 "coefficients": [float(c) for c in x]}


def posthoc_checkpoint(run_dir: Path, std: float, out: Path | None = None, step: int | None = None) -> Path:
    """A run directory whose checkpoint is ``run_dir``'s (at ``step``, default the newest) with the EMA
    weights replaced by the post-hoc EMA of relative std ``std``: sample, evaluate or serve it like
    any run. Written beside and renamed into place; ``out`` defaults to RUN/posthoc_ema/std_0.XXX."""
    import shutil

    from safetensors import safe_open
    from safetensors.torch import save_file


    run_dir = Path(run_dir)
    ckpts = list_checkpoints(run_dir)
    if step is not None:
        ckpts = [c for c in ckpts if int(c.name.split("_")[1]) == step]
    if not ckpts:
        raise UserError(f"'{run_dir}' holds no complete checkpoint{f' of step {step}' if step else ''}; "
                        "give a run directory of 'fromnoise train --ema-snapshots N'")
    load(ckpts[-1])  # the checkpoint is validated (config, weights, a latent model's autoencoder) first
    ckpt, _, state = read_checkpoint(ckpts[-1])
    ckpt_step = int(state.get("step", ckpt.name.split("_")[1]))
    weights, used = reconstruct(run_dir, std, ckpt_step)
    if ckpt_step not in used["snapshots"]:
        raise UserError(f"'{run_dir}' has no EMA snapshot of step {ckpt_step} (its checkpoint); snapshots: "
                        f"{used['snapshots'][-3:]}")
    ema_file = ckpt / "ema.safetensors"
    with safe_open(str(ema_file if ema_file.is_file() else ckpt / "model.safetensors"), "pt") as f:  # shapes only
        own = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    if set(own) != set(weights) or any(own[k] != tuple(weights[k].shape) for k in own):
        raise UserError(f"the EMA snapshots of '{run_dir}' do not fit its checkpoint {ckpt.name} "
                        "(another model was trained into the same directory?)")
    out = Path(out) if out is not None else run_dir / "posthoc_ema" / f"std_{std:.3f}"
    final = out / "checkpoints" / ckpt.name
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ckpt, tmp)
    save_file(weights, str(tmp / "ema.safetensors"), metadata={"format": "fromnoise", "step": str(ckpt_step)})
    write_json(tmp / "trainer.json", dict(state, posthoc_ema={**used, "source": str(ckpt)}))
    replace_dir(tmp, final)
    if (run_dir / "autoencoder").is_dir():  # a latent model decodes with its run's autoencoder

        copy_autoencoder(run_dir / "autoencoder", out)
    return out
