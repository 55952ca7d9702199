"""Training captions: from a captions file beside an image folder, or from class names through a template.

Reference 003 trains on a folder of ``class_index.jpg`` files with prompts such as
"Draw a six"; here the class part of the file name goes through templates
("a photo of a {class}" and "a photo of {classes}" in turn by default), so such a folder
needs no extra files.
"""

from __future__ import annotations

import re

from ..errors import UserError

# singular and plural in turn: people ask for "sandals" as often as for "a sandal", and a word the
# captions never had is a token the cross-attention never saw (bench/results/conditional.md)
DEFAULT_TEMPLATES = ("a photo of a {class}", "a photo of {classes}")

_PLACEHOLDER = re.compile(r"\{class\}|\{classes\}|\{\}")


def fill_template(template: str, name: str) -> str:
    """``template`` with ``{class}`` (or ``{}``) replaced by the lower-cased class ``name``, ``{classes}`` by its
    plural.

    "a {class}" before a vowel becomes "an ...", so "a photo of a {class}" reads
    "a photo of an ankle boot". Class names "T-shirt/top" read "t-shirt or top";
    "photos of {classes}" reads "photos of t-shirts or tops", "photos of sandals".
    """
    if not _PLACEHOLDER.search(template):
        raise UserError(f"the caption template {template!r} has no {{class}} placeholder; "
                        "write it like 'a photo of a {class}' (or 'photos of {classes}' for the plural)")
    word = name.replace("_", " ").replace("/", " or ").strip().lower()

    def put(match: re.Match) -> str:
        return plural(word) if match.group(0) == "{classes}" else word

    text = _PLACEHOLDER.sub(put, template)
    # English article agreement for the common "a {class}" templates
    return re.sub(rf"\b([Aa]) ({re.escape(word)})\b",
                  lambda m: (m.group(1) + ("n" if _takes_an(word) else "") + " " + m.group(2)), text)


def plural(phrase: str) -> str:
    """The English plural of a lower-case class phrase, by the regular rules, on the last word of
    each alternative: "ankle boot" -> "ankle boots", "dress" -> "dresses", "t-shirt or top" ->
    "t-shirts or tops", "butterfly" -> "butterflies". Irregular nouns are left to a captions file."""
    def one(words: str) -> str:
        head, _, last = words.rpartition(" ")
        if not last or last.endswith("s") and not last.endswith(("ss", "us")):
            return words  # already plural-looking ("trousers", "glasses"), or empty
        if last.endswith(("ss", "us", "x", "z", "ch", "sh")):
            last += "es"
        elif len(last) > 1 and last.endswith("y") and last[-2] not in "aeiou":
            last = last[:-1] + "ies"
        else:
            last += "s"
        return f"{head} {last}" if head else last

    return " or ".join(one(part) for part in phrase.split(" or "))


def _takes_an(word: str) -> bool:
    """Whether English writes "an" before ``word``: by its sound, not its letter ("a one", "an hour")."""
    if word.startswith(("one", "once", "uni", "use", "usu", "uti", "eu", "ewe")):
        return False
    if word.startswith(("hour", "honest", "honor", "honour", "heir")):
        return True
    return word[:1] in "aeiou"


def training_captions(data, template: str | list[str] | None = None) -> list[str]:
    """One caption per training image (N strings).

    A captions file (``data.captions``) wins; images it leaves without a caption, and data
    without a captions file, get their class name through ``template`` (default
    ``DEFAULT_TEMPLATES``). Several templates are used in turn (image i gets template i mod k),
    a cheap caption augmentation.
    """
    templates = [template] if isinstance(template, str) else list(template or DEFAULT_TEMPLATES)
    n = len(data)
    from_file = list(data.captions) if data.captions is not None else [""] * n
    need_names = [i for i, c in enumerate(from_file) if not str(c).strip()]
    if need_names and (data.labels is None or not data.class_names):
        where = data.description.get("path") or data.description.get("source", "the data")
        raise UserError(f"--condition text needs captions, but {len(need_names)} images of {where} have neither "
                        "a caption nor a class: add captions.csv (file,caption) to the folder, or name files "
                        "<class>_<index>.png so captions come from class names")
    names = data.class_names or []
    out = []
    for i, caption in enumerate(from_file):
        caption = str(caption).strip()
        if not caption:
            caption = fill_template(templates[i % len(templates)], names[int(data.labels[i])])
        out.append(caption)
    return out
