"""Data: sinusoid regression tasks (Finn et al., 2017) and real intent-classification datasets."""
from __future__ import annotations

import csv
import json
import math
import os
import urllib.request
from pathlib import Path
from typing import NamedTuple

import torch
from datasets import ClassLabel, Dataset, DatasetInfo, Features, Value
from torch import Tensor

from .episodes import TaskBatch

# ---------------------------------------------------------------------------------------
# Sinusoid regression (Finn et al., 2017, section 5.1)
# ---------------------------------------------------------------------------------------
AMPLITUDE_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


def sinusoid(x: Tensor, amplitude: Tensor, phase: Tensor) -> Tensor:
    """y = A sin(x - phi). x: (T, M, 1); amplitude, phase: (T,). Returns (T, M, 1)."""
    return amplitude[:, None, None] * torch.sin(x - phase[:, None, None])


def sample_sinusoid_params(n_tasks: int, generator: torch.Generator | None = None,
                           dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Amplitudes A ~ U[0.1, 5.0] and phases phi ~ U[0, pi], each of shape (n_tasks,)."""
    u = torch.rand(2, n_tasks, generator=generator, dtype=dtype)
    amp = AMPLITUDE_RANGE[0] + (AMPLITUDE_RANGE[1] - AMPLITUDE_RANGE[0]) * u[0]
    phase = PHASE_RANGE[0] + (PHASE_RANGE[1] - PHASE_RANGE[0]) * u[1]
    return amp, phase


def sinusoid_batch(amplitude: Tensor, phase: Tensor, k_support: int = 10, k_query: int = 10,
                   generator: torch.Generator | None = None) -> TaskBatch:
    """Sample x ~ U[-5, 5] for each task and return a regression TaskBatch.

    support_x, support_y: (T, k_support, 1); query_x, query_y: (T, k_query, 1),
    in the dtype of ``amplitude``.
    """
    if k_support < 1:
        raise ValueError(f"k_support must be at least 1, got {k_support}")
    T = amplitude.shape[0]
    lo, hi = X_RANGE
    x = lo + (hi - lo) * torch.rand(T, k_support + k_query, 1, generator=generator, dtype=amplitude.dtype)
    y = sinusoid(x, amplitude, phase)
    return TaskBatch(x[:, :k_support], y[:, :k_support], x[:, k_support:], y[:, k_support:])


def sample_sinusoid_tasks(n_tasks: int, k_support: int = 10, k_query: int = 10,
                          generator: torch.Generator | None = None,
                          dtype: torch.dtype = torch.float32) -> tuple[TaskBatch, Tensor, Tensor]:
    """``n_tasks`` new sinusoid tasks: (TaskBatch, amplitude (T,), phase (T,))."""
    amp, phase = sample_sinusoid_params(n_tasks, generator, dtype)
    return sinusoid_batch(amp, phase, k_support, k_query, generator), amp, phase


# ---------------------------------------------------------------------------------------
# Intent classification: CLINC150 and BANKING77 (or the user's own CSV / JSONL)
# ---------------------------------------------------------------------------------------
# Where the data comes from, in order: a local folder (argument ``data_dir`` or the
# environment variable METANLP_DATA_DIR) laid out like
#     clinc150/data_full.json, banking77/{train,test}.csv + categories.json,
#     splits/{clinc150,banking77}/0N/labels.{train,valid,test}.txt
# and otherwise the Hugging Face hub, cached the usual way.
DATA_DIR_ENV = "METANLP_DATA_DIR"
HUB_IDS = {"clinc150": ("clinc/clinc_oos", "plus"), "banking77": ("PolyAI/banking77", None)}
DOWNLOAD_SIZES = {"clinc150": "about 2.5 MB", "banking77": "about 1 MB"}
OUT_OF_SCOPE = "oos"
# The published class-disjoint meta-splits of ProtAugment (Dopierre et al., ACL 2021),
# fetched from their repository when no local folder holds them.
SPLITS_URL = ("https://raw.githubusercontent.com/tdopierre/ProtAugment/4233bbae/"
              "data/{folder}/few_shot/{split}/labels.{part}.txt")
SPLIT_FOLDERS = {"clinc150": "OOS", "banking77": "BANKING77"}
TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "question", "input", "content")
LABEL_COLUMNS = ("label", "intent", "category", "class", "labels", "target")

# CLINC150's 10 domains and their 15 intents each (Larson et al., EMNLP 2019, CC BY 3.0;
# the same as clinc150/domains.json in the original release). The hub copy of the dataset
# has no domain column, so the mapping lives here.
# @generated from domains.json
CLINC150_DOMAINS: dict[str, tuple[str, ...]] = {
    "banking": (
        "freeze_account", "routing", "pin_change", "bill_due", "pay_bill", "account_blocked",
        "interest_rate", "min_payment", "bill_balance", "transfer", "order_checks", "balance",
        "spending_history", "transactions", "report_fraud",
    ),
    "credit_cards": (
        "replacement_card_duration", "expiration_date", "damaged_card", "improve_credit_score",
        "report_lost_card", "card_declined", "credit_limit_change", "apr", "redeem_rewards",
        "credit_limit", "rewards_balance", "application_status", "credit_score", "new_card",
        "international_fees",
    ),
    "kitchen_and_dining": (
        "food_last", "confirm_reservation", "how_busy", "ingredients_list", "calories",
        "nutrition_info", "recipe", "restaurant_reviews", "restaurant_reservation",
        "meal_suggestion", "restaurant_suggestion", "cancel_reservation",
        "ingredient_substitution", "cook_time", "accept_reservations",
    ),
    "home": (
        "what_song", "play_music", "todo_list_update", "reminder", "reminder_update",
        "calendar_update", "order_status", "update_playlist", "shopping_list", "calendar",
        "next_song", "order", "todo_list", "shopping_list_update", "smart_home",
    ),
    "auto_and_commute": (
        "current_location", "oil_change_when", "oil_change_how", "uber", "traffic",
        "tire_pressure", "schedule_maintenance", "gas", "mpg", "distance", "directions",
        "last_maintenance", "gas_type", "tire_change", "jump_start",
    ),
    "travel": (
        "plug_type", "travel_notification", "translate", "flight_status", "international_visa",
        "timezone", "exchange_rate", "travel_suggestion", "travel_alert", "vaccines",
        "lost_luggage", "book_flight", "book_hotel", "carry_on", "car_rental",
    ),
    "utility": (
        "weather", "alarm", "date", "find_phone", "share_location", "timer", "make_call",
        "calculator", "definition", "measurement_conversion", "flip_coin", "spelling", "time",
        "roll_dice", "text",
    ),
    "work": (
        "pto_request_status", "next_holiday", "insurance_change", "insurance",
        "meeting_schedule", "payday", "taxes", "income", "rollover_401k", "pto_balance",
        "pto_request", "w2", "schedule_meeting", "direct_deposit", "pto_used",
    ),
    "small_talk": (
        "who_made_you", "meaning_of_life", "who_do_you_work_for", "do_you_have_pets",
        "what_are_your_hobbies", "fun_fact", "what_is_your_name", "where_are_you_from",
        "goodbye", "thank_you", "greeting", "tell_joke", "are_you_a_bot", "how_old_are_you",
        "what_can_i_ask_you",
    ),
    "meta": (
        "change_speed", "user_name", "whisper_mode", "yes", "change_volume", "no",
        "change_language", "repeat", "change_accent", "cancel", "sync_device",
        "change_user_name", "change_ai_name", "reset_settings", "maybe",
    ),
}
# Default class-disjoint meta-splits of CLINC150, by domain.
CLINC150_DOMAIN_SPLIT = {
    "train": ("banking", "credit_cards", "kitchen_and_dining", "home", "auto_and_commute", "small_talk"),
    "val": ("work", "meta"),
    "test": ("travel", "utility"),
}


class ClassSplit(NamedTuple):
    """Class-disjoint meta-splits: lists of label names for meta-train, meta-val and meta-test."""

    train: list[str]
    val: list[str]
    test: list[str]


def data_dir_from_env(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local data folder: the argument if given, else $METANLP_DATA_DIR, else None."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else None


def load_intents(
    name_or_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Load an intent-classification dataset as a ``datasets.Dataset``.

    Args:
        name_or_path: ``"clinc150"``, ``"banking77"``, or the path to the user's own CSV or
            JSONL file with one text and one label per row.
        data_dir: a local folder laid out like ``shared/data`` (see the README); defaults to
            $METANLP_DATA_DIR, and then to the Hugging Face hub.
        text_column, label_column: the column names of a user file (default: the first of
            the usual names found, e.g. ``text``/``sentence``/``utterance`` and
            ``label``/``intent``/``category``).

    Returns:
        A Dataset with columns ``text`` (str) and ``label`` (a ``ClassLabel`` whose names are
        the intents, sorted), plus ``domain`` (str) for CLINC150. All rows of every original
        split are included (meta-splits divide *classes*, not rows); out-of-scope rows are
        dropped. ``dataset.info.dataset_name`` is ``"clinc150"``, ``"banking77"`` or the file's stem.

    Raises:
        FileNotFoundError: the dataset is neither in the local folder nor reachable on the
            hub; the message says how to point METANLP_DATA_DIR at a local copy.
        ValueError: a user file lacks a text or label column, or has fewer than 2 classes.
    """
    key = str(name_or_path).lower().replace("-", "").replace("_", "")
    if key in ("clinc150", "clinc", "clincoos", "banking77", "banking"):
        name = "clinc150" if key.startswith("clinc") else "banking77"
        return _load_named(name, data_dir)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() in (".csv", ".tsv", ".jsonl", ".json") or path.exists():
        return _load_user_file(path, text_column, label_column)
    raise ValueError(
        f"unknown dataset {str(name_or_path)!r}: use 'clinc150', 'banking77', or the path to "
        "a .csv or .jsonl file with a text column and a label column."
    )


def _load_named(name: str, data_dir: str | os.PathLike | None) -> Dataset:
    folder = data_dir_from_env(data_dir)
    if folder is not None:
        local = folder / name
        if local.is_dir():
            texts, labels = (_read_clinc150 if name == "clinc150" else _read_banking77)(local)
            return _to_dataset(name, texts, labels)
        if data_dir is not None:  # an explicit argument that does not hold the data is an error
            raise FileNotFoundError(
                f"{name} was not found in {folder}: expected the folder {local} "
                f"(see the layout in the project README, 'Data')."
            )
    try:
        texts, labels = _read_hub(name)
    except Exception as err:  # no network, offline mode, or hub error
        hub_id, config = HUB_IDS[name]
        where = f" (and {folder} has no {name}/ folder)" if folder is not None else ""
        raise FileNotFoundError(
            f"{_display(name)} is not cached and the Hugging Face hub cannot be reached{where}.\n"
            f"  Point {DATA_DIR_ENV} at a folder holding {_expected_files(name)}, e.g.\n"
            f"      export {DATA_DIR_ENV}=/path/to/data\n"
            f"  or connect to the internet once to let it download ({DOWNLOAD_SIZES[name]}) "
            f"from the hub dataset '{hub_id}'.\n"
            f"  (The hub said: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from err
    return _to_dataset(name, texts, labels)


def _display(name: str) -> str:
    return {"clinc150": "CLINC150", "banking77": "BANKING77"}[name]


def _expected_files(name: str) -> str:
    return {"clinc150": "clinc150/data_full.json",
            "banking77": "banking77/train.csv and banking77/test.csv"}[name]


def _read_clinc150(folder: Path) -> tuple[list[str], list[str]]:
    path = folder / "data_full.json"
    if not path.is_file():
        raise FileNotFoundError(f"CLINC150: {path} is missing (expected the original data_full.json)")
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows = [r for part in ("train", "val", "test") for r in raw[part]]
    return [t for t, _ in rows], [i for _, i in rows]


def _read_banking77(folder: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for part in ("train", "test"):
        path = folder / f"{part}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"BANKING77: {path} is missing (expected the original {part}.csv)")
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                texts.append(row["text"])
                labels.append(row["category"])
    return texts, labels


def _read_hub(name: str) -> tuple[list[str], list[str]]:
    import datasets

    hub_id, config = HUB_IDS[name]
    try:
        dd = datasets.load_dataset(hub_id, config)
    except Exception:
        if name != "banking77":
            raise
        # BANKING77's hub repository is a loading script, which recent `datasets` no
        # longer runs; its parquet conversion holds the same rows.
        dd = datasets.load_dataset(hub_id, revision="refs/convert/parquet")
    label_col = "intent" if name == "clinc150" else "label"
    texts, labels = [], []
    for part in dd.values():
        names = part.features[label_col].names
        texts += part["text"]
        labels += [names[i] for i in part[label_col]]
    return texts, labels


def _to_dataset(name: str, texts: list[str], labels: list[str]) -> Dataset:
    keep = [i for i, lab in enumerate(labels) if lab != OUT_OF_SCOPE]
    texts = [texts[i] for i in keep]
    labels = [labels[i] for i in keep]
    names = sorted(set(labels))
    if len(names) < 2:
        raise ValueError(f"{name}: found {len(names)} class(es); few-shot classification needs at least 2")
    index = {n: i for i, n in enumerate(names)}
    columns: dict[str, list] = {"text": texts, "label": [index[lab] for lab in labels]}
    features = {"text": Value("string"), "label": ClassLabel(names=names)}
    if name == "clinc150":
        domain_of = {intent: d for d, intents in CLINC150_DOMAINS.items() for intent in intents}
        columns["domain"] = [domain_of[lab] for lab in labels]
        features["domain"] = Value("string")
    feats = Features(features)
    return Dataset.from_dict(columns, features=feats, info=DatasetInfo(dataset_name=name, features=feats))


def _load_user_file(path: Path, text_column: str | None, label_column: str | None) -> Dataset:
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
    text_col = _pick_column(columns, text_column, TEXT_COLUMNS, "text", path)
    label_col = _pick_column(columns, label_column, LABEL_COLUMNS, "label", path)
    texts, labels = [], []
    for n, row in enumerate(rows, 1):
        t, lab = row.get(text_col), row.get(label_col)
        if t is None or lab is None or str(t).strip() == "":
            raise ValueError(f"{path}, row {n}: empty {text_col!r} or {label_col!r}")
        texts.append(str(t))
        labels.append(str(lab))
    return _to_dataset(path.stem, texts, labels)


def _pick_column(columns: list[str], given: str | None, usual: tuple[str, ...], what: str, path: Path) -> str:
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


def class_splits(
    dataset: Dataset,
    split: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> ClassSplit:
    """Class-disjoint meta-train / meta-val / meta-test splits of a dataset's intents.

    Args:
        dataset: from :func:`load_intents`.
        split: ``"domains"`` (CLINC150 only, the default there: meta-train on banking,
            credit_cards, kitchen_and_dining, home, auto_and_commute, small_talk; meta-val
            on work, meta; meta-test on travel, utility), ``"01"`` ... ``"05"`` (the published
            splits of ProtAugment; the default for BANKING77), or ``"random"`` (the default
            for a user's dataset: a seeded split of its classes by ``fractions``).
        data_dir: where the published split files are (default $METANLP_DATA_DIR, then
            their public repository).
    """
    name = dataset.info.dataset_name
    names: list[str] = dataset.features["label"].names
    if split is None:
        split = {"clinc150": "domains", "banking77": "01"}.get(name, "random")
    if split == "domains":
        if name != "clinc150":
            raise ValueError(f"split='domains' exists for CLINC150 only, not {name!r}; use '01'..'05' or 'random'")
        parts = [[i for d in CLINC150_DOMAIN_SPLIT[p] for i in CLINC150_DOMAINS[d]] for p in ("train", "val", "test")]
        return ClassSplit(*(sorted(p) for p in parts))
    if split in ("01", "02", "03", "04", "05"):
        if name not in SPLIT_FOLDERS:
            raise ValueError(f"the published splits exist for clinc150 and banking77, not {name!r}; use 'random'")
        parts = [_read_split_file(name, split, part, data_dir) for part in ("train", "valid", "test")]
        unknown = sorted(set(sum(parts, [])) - set(names))
        if unknown:
            raise ValueError(f"split {split} of {name} names intents not in the data: {unknown[:5]}")
        return ClassSplit(*(sorted(p) for p in parts))
    if split == "random":
        if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
            raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
        order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
        n_train = round(fractions[0] * len(names))
        n_val = round(fractions[1] * len(names))
        picked = [names[i] for i in order]
        return ClassSplit(sorted(picked[:n_train]), sorted(picked[n_train:n_train + n_val]),
                          sorted(picked[n_train + n_val:]))
    raise ValueError(f"unknown split {split!r}: use 'domains' (CLINC150), '01'..'05', or 'random'")


def _read_split_file(name: str, split: str, part: str, data_dir: str | os.PathLike | None) -> list[str]:
    folder = data_dir_from_env(data_dir)
    if folder is not None:
        path = folder / "splits" / name / split / f"labels.{part}.txt"
        if path.is_file():
            return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    url = SPLITS_URL.format(folder=SPLIT_FOLDERS[name], split=split, part=part)
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            text = response.read().decode("utf-8")
    except Exception as err:
        raise FileNotFoundError(
            f"the published split {split} of {name} ({part} classes) is not in a local folder and "
            f"could not be downloaded from {url} ({type(err).__name__}).\n"
            f"  Point {DATA_DIR_ENV} at a folder holding splits/{name}/{split}/labels.{part}.txt, "
            f"or pass data_dir=, or use split='random' for a seeded split of the classes."
        ) from err
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def label_ids(dataset: Dataset, names: list[str]) -> list[int]:
    """The ClassLabel ids of intent ``names`` in ``dataset``."""
    return [dataset.features["label"].str2int(n) for n in names]


def pretty_label(name: str) -> str:
    """An intent name as words: ``"book_flight"`` -> ``"book flight"``."""
    return name.replace("_", " ").strip()


def select_classes(dataset: Dataset, names: list[str]) -> Dataset:
    """The rows of ``dataset`` whose intent is in ``names`` (labels keep their ids)."""
    wanted = set(label_ids(dataset, names))
    return dataset.select([i for i, lab in enumerate(dataset["label"]) if lab in wanted])
