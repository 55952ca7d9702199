"""The processes a run trains in: accelerate, seeds per process, optimizer kernels, gradient averaging.

Data parallel (``accelerate launch -m fromnoise train``, ``fromnoise train --processes N``): each
process seeds its own draws from (seed, step, rank) (:func:`process_seed`); only the main process
writes (the others log into :class:`Quiet`).
"""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import torch


def process_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of process ``rank`` (timesteps, noise, dropout): ``seed + step`` for process 0,
    numpy's SeedSequence of (seed, step, rank) for the others, so no two processes share a stream."""
    if rank == 0:
        return seed + step
    return int(np.random.SeedSequence([seed % 2**63, step, rank]).generate_state(1, np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's global generator and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def optimizer_options(device: torch.device) -> dict:
    """AdamW's keyword arguments for ``device``: the fused CUDA kernel on a GPU (one launch for all
    parameters), the default for-each implementation on the CPU."""
    return {"fused": True} if torch.device(device).type == "cuda" else {}


def allow_tf32() -> None:
    """Let float32 matmuls and convolutions use TF32 tensor cores (CUDA only; a 10-bit mantissa in
    the products, fp32 accumulation: what PyTorch calls "high" precision)."""
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True


def make_accelerator(grad_accum: int = 1):
    """HuggingFace accelerate for this process: bf16 autocast with fp32 master weights on CUDA (and
    TF32), fp32 on the CPU (bf16 on these CPUs is 50-390x slower)."""
    from accelerate import Accelerator  # slow to import: only when a run starts
    from accelerate.utils import InitProcessGroupKwargs

    cuda = torch.cuda.is_available()
    if cuda:
        allow_tf32()
    # a long in-training evaluation on the main process keeps the others waiting at the next step
    return Accelerator(mixed_precision="bf16" if cuda and torch.cuda.is_bf16_supported() else "no",
                       gradient_accumulation_steps=grad_accum, cpu=not cuda,
                       kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(hours=2))])


def average_gradients(parameters, world: int) -> None:
    """Average the gradients of ``parameters`` over the ``world`` processes: for the trained parts that
    DDP does not wrap (a learned loss weighting, a discriminator)."""
    for p in parameters:
        if p.grad is not None:
            torch.distributed.all_reduce(p.grad)
            p.grad.div_(world)


def mean_over_processes(acc, stats: dict, world: int) -> dict:
    """``stats`` (scalar tensors) averaged over every process: the global figures, so every process
    sees the same non-finite loss and the main one logs the mean."""
    if world == 1 or not stats:
        return stats
    both = acc.reduce(torch.stack([torch.as_tensor(v, device=acc.device).float() for v in stats.values()]), "mean")
    return dict(zip(stats, both))


class Quiet:
    """The logger of a process that is not the main one: every write is dropped."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
