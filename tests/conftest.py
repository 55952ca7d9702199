import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _own_fid_cache(tmp_path_factory):
    """Every test reads and writes FID reference statistics in a cache of the session's own, never the
    user's (~/.cache/fromnoise/fid): a reference someone computed on this machine earlier must not decide
    whether a test needs the Inception file. A test may still point it elsewhere with monkeypatch."""
    os.environ["FROMNOISE_FID_CACHE"] = str(tmp_path_factory.mktemp("fid-cache"))


@pytest.fixture
def one_thread():
    """One torch thread for the test (restored after): small models run faster, and deterministically."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
