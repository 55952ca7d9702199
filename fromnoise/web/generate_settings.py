"""The Generate tab's request and its checks (no gradio, no model): what the page and the ``/sample`` API state.

:class:`Settings` (one generation request, its image-to-image defaults those of
:data:`fromnoise.img2img_request.EDIT_DEFAULTS`), :func:`check` (limits, one clear sentence per bad
value), :func:`request_of` (the request dict ``fromnoise sample`` builds from its options, for
``fromnoise.conditioning.request.build_condition``) and :func:`command_line` (the equivalent ``fromnoise sample``
command).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..choices import DEFAULT_SAMPLER, SAMPLER_NAMES
from ..errors import UserError
from ..features import FEATURE_DOCS, FEATURE_NAMES
from ..features.names import MASK_GROUPS
from ..img2img_request import EDIT_DEFAULTS, EditRequest

MAX_STEPS = 1000
MAX_IMAGES = 64
MAX_GUIDANCE = 50.0
MAX_FRAMES = 64


def explanation(name: str) -> str:
    """One line about a feature: its documented definition up to the first ';' (names.py)."""
    return FEATURE_DOCS[name].formula.split("; ")[0]


def group_title(group: str) -> str:
    """A feature group's header; the groups measured on the mask say that a given mask overrides them."""
    return group.upper() + (" (the mask overrides these when one is given)" if group in MASK_GROUPS else "")


@dataclass
class Settings:
    """One generation request, as the page (or the API) states it."""

    model: str
    sampler: str = DEFAULT_SAMPLER
    steps: int = 20
    guidance: float = 1.0
    seed: int = 0
    n: int = 4
    class_name: str | None = None
    prompt: str = ""
    features: dict[str, float] | None = None  # name -> value in [0, 1]; None: no feature condition
    mask: np.ndarray | None = None            # (size, size) bool object mask; None: no mask
    # image-to-image (fromnoise sample --init / --inpaint --mask / --strength / --invert / --resample ...)
    init: str | None = None                   # the input image, a file on the server; None: from noise
    inpaint: np.ndarray | None = None         # (H, W) bool, white = regenerate (any size: fitted to the init's)
    strength: float | None = EDIT_DEFAULTS.strength  # None: generate()'s default (0.6 variation, 1 inpaint/invert)
    invert: bool = EDIT_DEFAULTS.invert
    resample: int = EDIT_DEFAULTS.resample
    jump_length: int = EDIT_DEFAULTS.jump_length
    feather: float = EDIT_DEFAULTS.feather
    source: str = ""                          # the upload's own class or prompt (--from-class / --from-prompt)


def whole_number(value, what: str) -> int:
    """``value`` as an int, or a UserError naming ``what`` when it is not a whole number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a whole number, got {value!r}") from None
    if not np.isfinite(number) or number != int(number):
        raise UserError(f"{what} must be a whole number, got {value!r}")
    return int(number)


def check(s: Settings) -> Settings:
    """Settings with numbers coerced, or a UserError naming the control and its allowed range."""
    if s.sampler not in SAMPLER_NAMES:
        raise UserError(f"unknown sampler {s.sampler!r}; choose one of: {', '.join(SAMPLER_NAMES)}")
    s.steps = whole_number(s.steps, "steps")
    if not 1 <= s.steps <= MAX_STEPS:
        raise UserError(f"steps must be between 1 and {MAX_STEPS}, got {s.steps}; use fewer sampler steps")
    s.n = whole_number(s.n, "the number of images")
    if not 1 <= s.n <= MAX_IMAGES:
        raise UserError(f"the number of images must be between 1 and {MAX_IMAGES} per request, got {s.n}")
    s.seed = whole_number(s.seed, "the seed")
    if not 0 <= s.seed < 2**63 - MAX_IMAGES:
        raise UserError(f"the seed must be a whole number from 0 to 2^63, got {s.seed}")
    try:
        s.guidance = float(s.guidance)
    except (TypeError, ValueError):
        raise UserError(f"guidance must be a number, got {s.guidance!r}") from None
    if not 0 <= s.guidance <= MAX_GUIDANCE:
        raise UserError(f"guidance must be between 0 and {MAX_GUIDANCE:g}, got {s.guidance:g}")
    if s.strength is not None:
        try:
            s.strength = float(s.strength)
        except (TypeError, ValueError):
            raise UserError(f"strength must be a number, got {s.strength!r}") from None
        if not 0 < s.strength <= 1:
            raise UserError(f"strength must be in (0, 1] (how far the upload is noised; 1 = from pure noise), "
                            f"got {s.strength:g}")
    s.resample = whole_number(s.resample, "the resample count")
    if not 1 <= s.resample <= 100:
        raise UserError(f"the resample count must be between 1 and 100, got {s.resample}")
    s.jump_length = whole_number(s.jump_length, "the jump length")
    if not 1 <= s.jump_length <= 1000:
        raise UserError(f"the jump length must be between 1 and 1000, got {s.jump_length}")
    try:
        s.feather = float(s.feather)
    except (TypeError, ValueError):
        raise UserError(f"feather must be a number of pixels, got {s.feather!r}") from None
    if not 0 <= s.feather <= 64:
        raise UserError(f"feather must be between 0 and 64 pixels, got {s.feather:g}")
    if s.init is None and (s.inpaint is not None or s.strength is not None or s.invert):
        raise UserError("strength, inversion and inpainting need an input image: upload one under image-to-image")
    if s.features is not None:
        for name, value in s.features.items():
            if name not in FEATURE_DOCS:
                raise UserError(f"unknown feature {name!r}; the 32 features are listed in the Visual features panel")
            if not isinstance(value, (int, float)) or not 0 <= float(value) <= 1:
                raise UserError(f"the feature {name} must be a number in [0, 1], got {value!r}")
    return s


def feature_overrides(features: dict[str, float] | None) -> list[str]:
    """``--set NAME=VALUE`` items that give exactly this feature vector.

    Features not given take 0.5, as ``fromnoise sample --set`` leaves them, so only the values
    that differ are written; all at 0.5 is written as one explicit ``NAME=0.5``.
    """
    if features is None:
        return []
    items = [f"{k}={float(v):g}" for k, v in features.items() if float(v) != 0.5]
    return items or [f"{FEATURE_NAMES[0]}=0.5"]


def request_of(s: Settings, mask_path: str | None) -> dict:
    """The request dict that ``fromnoise sample`` builds from its options (see cli/sample.py)."""
    return {"classes": [s.class_name] if s.class_name else [],
            "prompts": [s.prompt] if s.prompt and s.prompt.strip() else [],
            "features": None, "like": None, "set": feature_overrides(s.features), "mask": mask_path}


def command_line(s: Settings, run_dir: str | Path, mask_path: str | None = None, *, seed: int | None = None,
                 n: int | None = None, edit: EditRequest | None = None, interpolate: tuple[int, int] | None = None
                 ) -> str:
    """The ``fromnoise sample`` command that makes the same images (image i has seed + i).

    ``edit``: the image-to-image request, whose flags (with its --mask) replace ``mask_path``;
    ``interpolate``: (frames, seed_to) for ``--interpolate`` between ``s.seed`` and seed_to.
    """
    args = ["fromnoise", "sample", str(run_dir)]
    if interpolate:
        args += ["--interpolate", str(interpolate[0])]
    else:
        args += ["-n", str(s.n if n is None else n)]
    args += ["--sampler", s.sampler, "--steps", str(s.steps), "--seed", str(s.seed if seed is None else seed)]
    if interpolate:
        args += ["--seed-to", str(interpolate[1])]
    args += ["--guidance", f"{s.guidance:g}"]  # always: unset, the CLI takes the model's suggestion (may not be 1)
    if s.class_name:
        args += ["--class", s.class_name]
    if s.prompt and s.prompt.strip():
        args += ["--prompt", s.prompt]
    for item in feature_overrides(s.features):
        args += ["--set", item]
    if edit is not None:
        args += edit.flags()
    elif mask_path:
        args += ["--mask", str(mask_path)]
    return shlex.join(args)
