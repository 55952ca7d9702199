"""A few corpus entries through the real console command (real stdout/stderr, not CliRunner's).

Names that are not UTF-8 reach the terminal only here: a test runner's captured streams are more
forgiving than a real stdout, which raises UnicodeEncodeError on such names unless told otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from .corpus import CASES_BY_NAME, good_folder
from .test_checkpoints import _ckpt, trained  # noqa: F401 (a fixture)

FROMNOISE = [sys.executable, "-m", "fromnoise.cli.main"]


def _run(*args, timeout=240) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C.UTF-8", PYTHONIOENCODING="", OMP_NUM_THREADS="1")
    return subprocess.run([*FROMNOISE, *args], capture_output=True, timeout=timeout, env=env)


def test_features_folder_with_a_non_utf8_name(tmp_path):
    folder = good_folder(tmp_path / "photos")
    CASES_BY_NAME["non_utf8_name"].make(folder)
    proc = _run("features", folder, "--out", tmp_path / "out", "--workers", "1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and b"Traceback" not in out, out.decode(errors="replace")
    assert b"skipped 1" in out and b"caf\\xe9_latin1.png" in out and b"not valid UTF-8" in out


def test_info_prints_a_non_utf8_path_on_stdout(trained, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    config = _ckpt(run) / "config.json"
    data = json.loads(config.read_text())
    data["data"]["path"] = os.fsdecode(b"/photos/caf\xe9")  # as a folder with such a name is recorded
    config.write_text(json.dumps(data))
    proc = _run("info", run)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    assert b"/photos/caf\\udce9" in proc.stdout
