"""The Generate tab's API endpoints, ``/sample`` and ``/interpolate``: the page's work behind a JSON call.

The limits, messages and defaults are the page's (:mod:`.generate_settings`); the image-to-image defaults are
:data:`fromnoise.img2img_request.EDIT_DEFAULTS`'s, as for ``fromnoise sample``.
"""

from __future__ import annotations

import base64
import io

from ..choices import DEFAULT_SAMPLER
from ..img2img_request import EDIT_DEFAULTS
from ..viz import to_pil
from .common import last, page_errors, png_base64
from .generate_settings import Settings
from .generate_work import interpolate_run, run
from .uploads import decode_png, inpaint_region, mask_from_image, save_upload

_E = EDIT_DEFAULTS


def register(ctx) -> None:
    """Register the endpoints on the page being built (inside its ``gr.Blocks``)."""
    import gradio as gr  # slow to import: only when a page is built

    def settings_api(model, n, steps, sampler, guidance, seed, class_name, prompt, features, mask_png, init_png="",
                     inpaint_png="", strength=_E.strength, invert=_E.invert, resample=_E.resample,
                     jump_length=_E.jump_length, feather=_E.feather, source=""):
        m = page_errors(ctx.store.get, model)
        mask = page_errors(lambda: mask_from_image(decode_png(mask_png), m.image_size)) if mask_png else None
        s = Settings(model, sampler=sampler, steps=steps, guidance=guidance, seed=seed, n=n,
                     class_name=class_name or None, prompt=prompt, features=features, mask=mask,
                     strength=strength, invert=bool(invert), resample=resample, jump_length=jump_length,
                     feather=feather, source=source or "")
        if init_png:
            s.init = page_errors(save_upload, init_png, ctx.tmp, "init image")
        if inpaint_png:
            s.inpaint = page_errors(inpaint_region, None, save_upload(inpaint_png, ctx.tmp, "inpainting mask"))
        return s

    def sample(model: str, n: int = 4, steps: int = 20, sampler: str = DEFAULT_SAMPLER, guidance: float = 1.0,
               seed: int = 0, class_name: str = "", prompt: str = "", features: dict | None = None,
               mask_png: str = "", init_png: str = "", inpaint_png: str = "", strength: float | None = _E.strength,
               invert: bool = _E.invert, resample: int = _E.resample, jump_length: int = _E.jump_length,
               feather: float = _E.feather, source: str = "") -> dict:
        """Generate images; returns {"command", "images": [{"seed", "caption", "png"}]} (base64 PNGs).

        features: feature name -> value in [0, 1] (the rest stay at 0.5); mask_png: a base64
        PNG, white = object. Image-to-image: init_png, a base64 image to vary or edit (``--init``) at
        ``strength``, or with inpaint_png (white = regenerate) to inpaint (``--inpaint``, with resample,
        jump_length, feather); invert: DDIM inversion; source: the upload's own class or prompt (inverted under,
        guided away from: ``--from-class`` / ``--from-prompt``). The limits and messages are the page's.
        """
        s = page_errors(settings_api, model, n, steps, sampler, guidance, seed, class_name, prompt, features,
                        mask_png, init_png, inpaint_png, strength, invert, resample, jump_length, feather, source)
        u = page_errors(last, run(ctx.store, s, timeout=ctx.timeout, out_root=ctx.tmp))
        return {"command": u.command, "status": u.status,
                "images": [{"seed": s.seed + j, "caption": c, "png": png_base64(p)}
                           for j, (p, c) in enumerate(u.files)]}

    gr.api(sample, api_name="sample", concurrency_limit=ctx.concurrency, concurrency_id="generate")

    def interpolate(model: str, frames: int = 8, seed: int = 0, seed_to: int = 1, steps: int = 20,
                    sampler: str = DEFAULT_SAMPLER, guidance: float = 1.0, class_name: str = "", prompt: str = "",
                    features: dict | None = None, mask_png: str = "") -> dict:
        """Interpolate between two seeds under one condition; returns {"command", "strip", "gif", "frames"}
        (base64 PNG strip, base64 GIF, base64 PNG per frame)."""
        s = page_errors(settings_api, model, 1, steps, sampler, guidance, seed, class_name, prompt, features,
                        mask_png)
        u = page_errors(last, interpolate_run(ctx.store, s, frames, seed_to, timeout=ctx.timeout, out_root=ctx.tmp))
        pngs = []
        for img in u.images:
            buf = io.BytesIO()
            to_pil(img).save(buf, format="PNG")
            pngs.append(base64.b64encode(buf.getvalue()).decode("ascii"))
        return {"command": u.command, "status": u.status, "strip": png_base64(u.files[0][0]),
                "gif": png_base64(u.files[1][0]), "frames": pngs}

    gr.api(interpolate, api_name="interpolate", concurrency_limit=ctx.concurrency, concurrency_id="generate")
