"""One image-to-image request and its defaults: the one place ``fromnoise sample``, the page and ``generate()`` read.

``fromnoise sample`` turns its options ``--init / --inpaint / --mask / --strength / --invert / --resample /
--jump-length / --feather / --from-* / --negative-*`` into an :class:`EditRequest` (their click defaults are
its field defaults); the web page builds the same object over its uploads (saved as files first) and its
controls start at the same defaults; ``generate()`` and :func:`fromnoise.sampling.img2img.plan_edit` take
their keyword defaults from :data:`EDIT_DEFAULTS`. :meth:`EditRequest.flags` gives back the command-line
flags (the defaults left out), so the page can show the command that makes the same images.

Reading the files and building ``generate()``'s keywords is :mod:`fromnoise.sampling.img2img_files`. This
module imports neither torch nor numpy (which is why it sits beside :mod:`fromnoise.choices`, not inside the
sampling package, whose ``__init__`` imports ``generate()``), so ``fromnoise sample --help`` shows the
defaults at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import UserError

# samplers whose walk is a deterministic ODE solve (with eta = 0 for ddim): the ones an inversion can come back through
DETERMINISTIC = ("ddim", "dpmpp_2m", "euler", "heun")
STRENGTH_VARIATION = 0.6  # SDEdit's middle range: the layout of the input survives, its details are redrawn
STRENGTH_FULL = 1.0       # inpainting and inversion walk the whole grid
# A class (or prompt) edit that keeps the most of the input for the share of edits that take: --from-class OLD
# --class NEW --invert --sampler ddim at STRENGTH_FULL, guided from OLD to NEW by this much. The best trade-off of
# bench_img2img.py --curve (issue 26; 200 held-out Fashion-MNIST edits, a class model trained 30 CPU-minutes:
# 80.5% new class at mean SSIM 0.360, the nearest real image of the new class 0.31; 1.25 gives 86% at 0.31).
# Guidance stays 1 for everything else.
EDIT_GUIDANCE = 1.05


def default_strength(*, inpaint: bool, invert: bool) -> float:
    """The strength when none is given: the full walk for inpainting and inversion, 0.6 for a variation."""
    return STRENGTH_FULL if (inpaint or invert) else STRENGTH_VARIATION


@dataclass
class EditRequest:
    """The image-to-image options of ``fromnoise sample``, by their flag names (paths are files).

    ``init``: a variation or edit of this image (SDEdit); ``inpaint``: regenerate the ``mask`` region of this
    image (white = regenerate), keeping the rest exactly (RePaint). Without either, ``mask`` is the object
    silhouette of a mask-conditioned model (:attr:`condition_mask`), not an edit.
    """

    mask: str | None = None
    init: str | None = None
    inpaint: str | None = None
    strength: float | None = None       # None: default_strength() (0.6 for a variation, 1 to inpaint or invert)
    invert: bool = False
    resample: int = 1                   # RePaint: each stretch denoised this many times (1: plain replacement)
    jump_length: int = 10               # RePaint: grid points per jump back
    feather: float = 1.0                # pixels over which the regenerated region fades in at the seam
    from_class: str | None = None       # the input's own class (or prompt): inverted under it, guided away from it
    from_prompt: str | None = None
    negative_class: str | None = None   # guide away from this class (or prompt) instead of the null condition
    negative_prompt: str | None = None

    @property
    def image(self) -> str | None:
        """The input image's path (``init`` or ``inpaint``), None without one."""
        return self.init or self.inpaint

    @property
    def condition_mask(self) -> str | None:
        """The ``mask`` when it is the model's object mask (no inpainting), for the condition request."""
        return None if self.inpaint else self.mask

    def keep_own_condition(self, request: dict, encoders) -> bool:
        """Fill ``request`` (build_condition's) in place so that an edit of a feature-conditioned model keeps what
        it does not name: without ``--features`` or ``--like``, the input image is the ``like`` image, so
        ``--set`` moves only the features it names and the rest stay the image's own (and a mask-conditioned
        model without ``--mask`` keeps the image's silhouette, as ``--like`` does). True when it filled it."""
        if not self.image or "features" not in encoders or request.get("features") or request.get("like"):
            return False
        request["like"] = self.image
        return True

    def check(self, mask_conditioned: bool) -> None:
        """Refuse a combination that means nothing (init and inpaint, inpaint without a mask, a mask for a model
        that takes none, a strength or an inversion without an image) with the sentence the CLI prints."""
        if self.init and self.inpaint:
            raise UserError("give --init (a variation of the whole image) or --inpaint (regenerate the --mask "
                            "region), not both")
        if self.inpaint and not self.mask:
            raise UserError("--inpaint needs --mask: a PNG of the image's size, white where to regenerate")
        if self.mask and not self.inpaint and not mask_conditioned:
            raise UserError("this model is not mask-conditioned, so --mask alone means nothing to it; to inpaint, "
                            "give --inpaint IMAGE --mask MASK (white = regenerate)")
        if not self.image and (self.strength is not None or self.invert):
            raise UserError("--strength and --invert need an input image: --init IMAGE or --inpaint IMAGE")

    def flags(self) -> list[str]:
        """The ``fromnoise sample`` flags of this request, in the order of its --help; a value equal to its
        field's default is left out, and the RePaint options only go with --inpaint."""
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value is False or value == "" or value == f.default:
                continue
            if f.name in _INPAINT_ONLY and not self.inpaint:
                continue
            flag = "--" + f.name.replace("_", "-")
            if value is True:
                out.append(flag)
            else:
                out += [flag, f"{float(value):g}" if isinstance(value, (int, float)) else str(value)]
        return out


_INPAINT_ONLY = ("resample", "jump_length", "feather")
# the defaults as an object: EDIT_DEFAULTS.feather, ... for generate(), plan_edit(), the CLI and the page
EDIT_DEFAULTS = EditRequest()
