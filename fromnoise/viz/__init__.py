"""Pictures people would rather look at than read: grids, denoising frames, GIFs, plots."""

from .grids import grid, save_frames, save_gif, save_grid, save_image, save_images, to_pil
from .plots import loss_figure, moving_average, plot_loss, save_figure

__all__ = ["grid", "save_frames", "save_gif", "save_grid", "save_image", "save_images", "to_pil", "loss_figure",
           "moving_average", "plot_loss", "save_figure"]
