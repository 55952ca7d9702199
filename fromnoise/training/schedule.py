"""Budgets and the learning-rate schedule: how long a run trains and at what rate, step by step."""

from __future__ import annotations

import math
import time

from ..errors import UserError

LR_DECAYS = ("none", "cosine")


def budget_clock(clock: str) -> float:
    """The seconds a ``--minutes`` budget counts: wall time, or this process's CPU time (``clock="cpu"``:
    a benchmark's budget that other jobs on a shared machine do not eat into)."""
    return time.process_time() if clock == "cpu" else time.time()


def learning_rate(peak: float, step: int, warmup: int, decay: str, progress: float) -> float:
    """The learning rate of optimizer step ``step``: a linear warm-up over ``warmup`` steps, then
    ``peak``, or with ``decay="cosine"`` peak * (1 + cos(pi * progress)) / 2, where ``progress``
    (0..1) is how much of the budget is spent (Loshchilov & Hutter 2017, without restarts)."""
    if decay not in LR_DECAYS:
        raise UserError(f"unknown lr decay '{decay}'; choose one of {', '.join(LR_DECAYS)}")
    lr = peak * min(1.0, (step + 1) / max(1, warmup))
    if decay == "cosine":
        lr *= 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return lr


def target_steps(n_images: int, batch_size: int, grad_accum: int, steps: int | None,
                 epochs: float | None) -> int | None:
    """The optimizer step a run stops at: the nearer of ``steps`` and ``epochs`` (None: neither given)."""
    per_epoch = math.ceil(n_images / (batch_size * grad_accum))
    goals = [g for g in (steps, epochs and math.ceil(epochs * per_epoch)) if g]
    return min(goals) if goals else None


def budget_progress(step: int, goal: int | None, now: float, start: float, deadline: float | None) -> float:
    """How far through its budget an invocation is, 0..1: the further of steps and time."""
    done = [step / goal] if goal else []
    if deadline is not None:
        done.append((now - start) / (deadline - start))
    return min(1.0, max(done, default=0.0))
