"""Training: the trainer, checkpoints, EMA, logs and condition tables."""

from ..checkpoint import list_checkpoints, read_checkpoint, resolve_checkpoint, save_checkpoint
from .trainer import Trainer, TrainOptions

__all__ = ["Trainer", "TrainOptions", "list_checkpoints", "read_checkpoint", "resolve_checkpoint", "save_checkpoint"]
