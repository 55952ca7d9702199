"""Shared fixtures of the web tests: three tiny trained runs, the page served on loopback, a browser.

The runs (micro preset, a few steps with a high learning rate so the condition changes the
output): class-conditional on a red/blue folder, text-conditional on reference 003's
``class_index.png`` layout, features + mask on coloured shapes. The page runs in this process
(``fromnoise.web.app.build_app`` + ``launch``); every socket connection that is not to loopback
is refused and recorded, so a test can assert that nothing called out.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import gradio  # noqa: F401  (the web extra, which make test installs)
import numpy as np
import pytest
from PIL import Image
from skimage.draw import disk, rectangle

from bench.page_driver import CHROMIUM, CHROMIUM_ARGS

OUTSIDE: list[str] = []  # addresses something tried to reach


def _loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # a unix socket path
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session", autouse=True)
def loopback_only():
    """Refuse (and record) every connection that is not to loopback, for the whole web session."""
    original = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            OUTSIDE.append(str(address))
            raise OSError(f"the web tests refuse connections outside loopback: {address}")
        return original(self, address)

    socket.socket.connect = connect
    yield OUTSIDE
    socket.socket.connect = original


def _write_folders(root: Path) -> dict[str, Path]:
    cls = root / "colours"
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (cls / name).mkdir(parents=True)
        for i in range(6):
            img = Image.new("RGB", (16, 16), (240, 240, 240))
            img.paste(colour, (2 + i, 3, 10 + i, 11))
            img.save(cls / name / f"{i}.png")
    txt = root / "digits"
    txt.mkdir()
    for name, value in (("six", 230), ("two", 20)):
        for i in range(4):
            Image.fromarray(np.full((16, 16), value, np.uint8)).save(txt / f"{name}_{i}.png")
    shapes = root / "shapes"
    shapes.mkdir()
    colours = [(230, 30, 30), (30, 200, 40), (40, 60, 220), (240, 200, 20)]
    for i in range(8):
        img, m, r = np.zeros((16, 16, 4), np.uint8), np.zeros((16, 16), bool), 3 + i % 4
        if i % 2:
            m[disk((8, 8), r)] = True
        else:
            m[rectangle((8 - r, 8 - r), extent=(2 * r, 2 * r))] = True
        img[m, :3], img[m, 3] = colours[i % 4], 255
        Image.fromarray(img, "RGBA").save(shapes / f"shape_{i}.png")
    return {"class": cls, "text": txt, "features": shapes}


@pytest.fixture(scope="session")
def web_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    os.environ["FROMNOISE_CACHE"] = str(root / "cache")
    return root


@pytest.fixture(scope="session")
def folders(web_root):
    return _write_folders(web_root / "data")


@pytest.fixture(scope="session")
def runs(web_root, folders):
    """{"class": run, "text": run, "features": run}: trained through the CLI, in this process."""
    from click.testing import CliRunner

    from fromnoise.cli.main import cli

    common = ["--preset", "micro", "--steps", "6", "--warmup", "0", "--lr", "0.01", "--batch-size", "4",
              "--num-samples", "2", "--sample-every", "3", "--save-every", "3", "--no-progress"]
    extra = {"class": ["--image-size", "8", "--condition", "class"],
             "text": ["--image-size", "8", "--condition", "text", "--caption-template", "Draw a {class}"],
             "features": ["--image-size", "16", "--channels", "3", "--condition", "features", "--mask"]}
    out = {}
    for kind, args in extra.items():
        run_dir = web_root / "runs" / kind
        result = CliRunner().invoke(cli, ["train", "--dataset", str(folders[kind]), *args, *common,
                                          "--out", str(run_dir)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        out[kind] = run_dir
    return out


@pytest.fixture(scope="session")
def server(web_root, runs):
    """(url, demo) of the page on 127.0.0.1, serving the runs under web_root/runs."""
    from fromnoise.web.app import build_app, launch

    demo = build_app((), web_root / "runs", [web_root / "data"], device="cpu", timeout=60, concurrency=4)
    _, url = launch(demo, "127.0.0.1", _free_port(), block=False, quiet=True)
    yield url.rstrip("/"), demo
    demo.fromnoise.jobs.stop(wait=5)
    demo.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server[0] + "/", analytics_enabled=False, verbose=False, download_files=False)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium; make test installs it)")
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def page(browser, server):
    """One page for the whole session; every request that leaves loopback is aborted and recorded."""
    page = browser.new_page(viewport={"width": 1400, "height": 1500})

    def route(r):
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            OUTSIDE.append(url)
            r.abort()

    page.route("**/*", route)
    page.set_default_timeout(60_000)
    page.goto(server[0] + "/")
    page.wait_for_selector("#generate")
    yield page
    page.close()
