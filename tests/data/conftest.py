"""Shared fixtures for the data tests: no network, and a helper that writes images."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any attempt to reach the network (a torchvision download would)."""
    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in the data tests")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def write_image():
    """``write_image(path, array)``: save a uint8/uint16 (H, W[, C]) array as an image file."""
    def write(path: Path, array: np.ndarray) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(array)).save(path)
        return path
    return write


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
