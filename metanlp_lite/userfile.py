"""The user's own intent data: a CSV, TSV or JSONL file with one text and one label per row, read
into ``(texts, labels)`` for :func:`metanlp_lite.data.load_intents` (``load_intents("mine.csv")``).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

__all__ = ["TEXT_COLUMNS", "LABEL_COLUMNS", "read_user_file", "pick_column"]

TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "question", "input", "content")
LABEL_COLUMNS = ("label", "intent", "category", "class", "labels", "target")


def read_user_file(path: Path, text_column: str | None = None, label_column: str | None = None
                   ) -> tuple[list[str], list[str]]:
    """(texts, labels) of a CSV, TSV or JSONL file with one text and one label per row; the columns
    are ``text_column`` and ``label_column``, or else the first of the usual names found."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: give the path to a .csv or .jsonl file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    else:
        rows = []
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path}, line {n}: not valid JSON ({err.msg}); "
                                         "expected one JSON object per line") from err
    if not rows:
        raise ValueError(f"{path} holds no rows")
    columns = list(rows[0].keys())
    text_col = pick_column(columns, text_column, TEXT_COLUMNS, "text", path)
    label_col = pick_column(columns, label_column, LABEL_COLUMNS, "label", path)
    texts, labels = [], []
    for n, row in enumerate(rows, 1):
        t, lab = row.get(text_col), row.get(label_col)
        if t is None or lab is None or str(t).strip() == "":
            raise ValueError(f"{path}, row {n}: empty {text_col!r} or {label_col!r}")
        texts.append(str(t))
        labels.append(str(lab))
    return texts, labels


def pick_column(columns: list[str], given: str | None, usual: tuple[str, ...], what: str, path: Path) -> str:
    """The column of ``columns`` that holds the ``what`` ("text" or "label"): ``given``, or the first
    of the ``usual`` names (case ignored); a ValueError that says how to name it otherwise."""
    if given is not None:
        if given not in columns:
            raise ValueError(f"{path}: no column {given!r}; the columns are {columns}")
        return given
    lower = {c.lower(): c for c in columns}
    for u in usual:
        if u in lower:
            return lower[u]
    raise ValueError(
        f"{path}: cannot tell which column holds the {what}; the columns are {columns}. "
        f"Name it, e.g. load_intents(path, {what}_column={columns[0]!r}) "
        f"(recognised automatically: {', '.join(usual)})."
    )
