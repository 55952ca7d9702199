"""Pictures people would rather look at than read: grids, GIFs, plots."""

from .grids import grid, save_gif, save_grid, save_image, save_images, to_pil
from .plots import moving_average, plot_loss, save_figure

__all__ = ["grid", "save_gif", "save_grid", "save_image", "save_images", "to_pil", "moving_average", "plot_loss",
           "save_figure"]
