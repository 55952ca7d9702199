"""Driving the page in Debian's headless chromium (playwright): what the web tests and bench/page_warmth.py share."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

CHROMIUM = "/usr/bin/chromium"  # Debian's; never a downloaded browser
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def choose(page, elem_id: str, value: str) -> None:
    """Pick ``value`` in the dropdown ``elem_id``."""
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=value, exact=True).click()


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def set_number(page, elem_id: str, value) -> None:
    """Type ``value`` into the number box of the component ``elem_id`` and press Enter."""
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def image_pixels(page, locator) -> np.ndarray:
    """The pixels of an <img> as the server sent them."""
    return np.asarray(Image.open(io.BytesIO(page.request.get(locator.get_attribute("src")).body())))


def click_generate(page):
    """Click Generate, wait until the gallery's first image is replaced and the run has finished; returns the
    gallery's first <img> locator."""
    first = page.locator("#gallery img").first
    old = first.get_attribute("src") if first.count() else ""
    page.locator("#generate").click()
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel); return i && i.src !== old; }",
                           arg=["#gallery img", old])
    page.wait_for_function("() => !document.querySelector('#gen-status').innerText.includes('step ')")
    return first
