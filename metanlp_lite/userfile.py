"""The user's own intent data: a CSV, TSV or JSONL file with one text and one label per row, read
into ``(texts, labels)`` for :func:`metanlp_lite.data.load_intents` (``load_intents("mine.csv")``);
or, with a language per row too, into the columns of a multilingual table
(:func:`read_language_file`, for :func:`metanlp_lite.crosslingual.corpus_from_file`).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

__all__ = ["TEXT_COLUMNS", "LABEL_COLUMNS", "LANGUAGE_FILE_COLUMNS", "read_user_file", "read_rows",
           "pick_column", "read_language_file"]

TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "question", "input", "content")
LABEL_COLUMNS = ("label", "intent", "category", "class", "labels", "target")


def read_user_file(path: Path, text_column: str | None = None, label_column: str | None = None
                   ) -> tuple[list[str], list[str]]:
    """(texts, labels) of a CSV, TSV or JSONL file with one text and one label per row; the columns
    are ``text_column`` and ``label_column``, or else the first of the usual names found."""
    rows = read_rows(path)
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


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV or TSV file (by its header; every value a string, a short row's missing
    values None) or of a JSONL file (one JSON object per line; blank lines skipped), at least one."""
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
                    if not isinstance(rows[-1], dict):
                        raise ValueError(f"{path}, line {n}: a JSON {type(rows[-1]).__name__}, not an object; "
                                         'expected one JSON object per line, e.g. {"text": ..., "label": ...}')
    if not rows:
        raise ValueError(f"{path} holds no rows")
    return rows


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


LANGUAGE_FILE_COLUMNS = ("text", "label", "language", "parallel", "split")   # the last two optional


def read_language_file(path: Path) -> dict[str, list[str] | None]:
    """The columns of a multilingual intent file, a CSV, TSV or JSONL file with one utterance a row:
    {"text", "label", "language", "parallel", "split"}: P strings each (the texts as written, the
    others stripped of spaces), "parallel" and "split" None when the file has no such column (their
    values may be empty: "" then).

    The column names are matched ignoring case. text, label, language: required and non-empty in
    every row. parallel: an id shared by the translations of one sentence. split: "test" marks the
    meta-test rows. Raises ValueError naming the file, the row and what to change.
    """
    rows = read_rows(path)
    columns = [c for c in dict.fromkeys(c for row in rows for c in row) if c is not None]   # JSONL: any row's keys
    lower = {str(c).strip().lower(): c for c in columns}
    usage = ("a multilingual intent file needs the columns text, label and language (a language code "
             "per row, e.g. en, de, gsw), and optionally parallel (an id shared by the translations of "
             "one sentence) and split (test for the meta-test rows)")
    for name in LANGUAGE_FILE_COLUMNS[:3]:
        if name not in lower:
            raise ValueError(f"{path}: no {name!r} column; the columns are {columns}: {usage}")
    out: dict[str, list[str] | None] = {}
    for name in LANGUAGE_FILE_COLUMNS:
        if name not in lower:
            out[name] = None
            continue
        values = [row.get(lower[name]) for row in rows]
        strings = ["" if v is None else str(v) for v in values]
        out[name] = strings if name == "text" else [v.strip() for v in strings]    # the texts as written
        if name in LANGUAGE_FILE_COLUMNS[:3]:
            empty = [n for n, v in enumerate(out[name], 1) if v.strip() == ""]
            if empty:
                raise ValueError(f"{path}, row {empty[0]}: empty {name!r} ({len(empty)} row(s) in all); "
                                 f"give every row a {name}, or leave such rows out")
    return out
