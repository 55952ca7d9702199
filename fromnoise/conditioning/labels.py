"""Class labels: a learned embedding with one extra row as the null class (reference 001's extension)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from .base import ConditionEncoder


class ClassEncoder(ConditionEncoder):
    """``cond["labels"]`` (B,) int64 in [0, num_classes) -> embedding (B, emb_dim); index num_classes is null."""

    kind = "class"
    keys = ("labels",)

    def __init__(self, num_classes: int, emb_dim: int, class_names: list[str] | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.embed = nn.Embedding(num_classes + 1, emb_dim)
        nn.init.normal_(self.embed.weight, std=0.02)

    def encode(self, cond, drop):
        labels = cond["labels"].long()
        labels = torch.where(drop.to(labels.device), torch.full_like(labels, self.num_classes), labels)
        return self.embed(labels), None

    def null_condition(self, batch, device):
        return {"labels": torch.full((batch,), self.num_classes, dtype=torch.long, device=device)}

    def rows(self, request):
        wanted = request.get("classes")
        if not wanted:
            return None
        out = []
        for item in wanted:
            idx = self.lookup(str(item))
            out.append((self.class_names[idx], {"labels": torch.tensor([idx])}))
        return out

    def lookup(self, name: str) -> int:
        """Class index from a name (case-insensitive) or an index; UserError listing the known names."""
        names = [n.lower() for n in self.class_names]
        if name.lower() in names:
            return names.index(name.lower())
        if name.isdigit() and int(name) < self.num_classes:
            return int(name)
        raise UserError(f"unknown class {name!r}; this model knows: {', '.join(self.class_names)}")

    def config(self):
        return {"num_classes": self.num_classes, "emb_dim": self.embed.embedding_dim, "class_names": self.class_names}
