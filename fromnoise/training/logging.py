"""Run logs: metrics JSONL, tensorboard scalars and images, the loss plot, a text log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..io import write_text
from ..viz import grid, plot_loss


class RunLogger:
    """Writes ``metrics.jsonl``, ``log.txt``, ``loss.png`` and tensorboard events under ``out``."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.metrics = self.out / "metrics.jsonl"
        self._tb = None

    @property
    def tb(self):
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tensorboard"))
            except ImportError:  # tensorboard is optional at run time
                self._tb = False
        return self._tb

    def scalars(self, step: int, values: dict) -> None:
        with self.metrics.open("a") as f:
            f.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
        if self.tb:
            for k, v in values.items():
                self.tb.add_scalar(f"train/{k}", v, step)

    def truncate(self, step: int) -> int:
        """Drop the metrics of steps after ``step`` (a resumed run trains them again); returns how many.

        Lines cut short by a kill are dropped too. The file is rewritten atomically.
        """
        if not self.metrics.exists():
            return 0
        keep, dropped = [], 0
        for line in self.metrics.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                dropped += 1
                continue
            if int(rec.get("step", 0)) > step:
                dropped += 1
            else:
                keep.append(line)
        if dropped:

            write_text(self.metrics, "".join(f"{line}\n" for line in keep))
        return dropped

    def images(self, step: int, images: torch.Tensor, path: Path) -> None:
        if self.tb:

            self.tb.add_image("samples", grid(images), step)
        self.note(f"step {step}: samples -> {path}")

    def note(self, text: str) -> None:
        with (self.out / "log.txt").open("a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def read(self, key: str = "loss") -> tuple[list[int], list[float]]:
        steps, values = [], []
        if self.metrics.exists():
            for line in self.metrics.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill
                    continue
                if key in rec:
                    steps.append(rec["step"])
                    values.append(rec[key])
        return steps, values

    def plot(self) -> Path | None:

        steps, losses = self.read("loss")
        if len(steps) < 2:
            return None
        return plot_loss(steps, losses, self.out / "loss.png")

    def close(self) -> None:
        if self.tb:
            self.tb.flush()
            self.tb.close()
