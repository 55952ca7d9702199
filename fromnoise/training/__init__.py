"""Training: the one loop (loop.py) with its objectives, resume and save, EMA, logs, launching processes.

    Trainer(config, data, TrainOptions(out="runs/fashion", minutes=10)).run()        diffusion (trainer.py)
    AutoencoderTrainer(ae_config, data, AutoencoderTrainingConfig(...)).run()      autoencoder.py
    LatentTrainer(config, data, latents, options).run()                           latent.py
"""

from ..checkpoint import list_checkpoints, read_checkpoint, resolve_checkpoint, save_checkpoint
from .autoencoder import AutoencoderTrainer
from .diffusion_objective import WEIGHTING_FILE, DiffusionObjective
from .loop import TrainingLoop
from .runtime import process_seed
from .schedule import learning_rate
from .signals import TrainingInterrupted
from .trainer import Trainer, TrainOptions

__all__ = ["AutoencoderTrainer", "DiffusionObjective", "Trainer", "TrainOptions", "TrainingInterrupted",
           "TrainingLoop", "WEIGHTING_FILE", "learning_rate", "list_checkpoints", "process_seed", "read_checkpoint",
           "resolve_checkpoint", "save_checkpoint"]
