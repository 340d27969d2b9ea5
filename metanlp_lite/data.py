"""Data: sinusoid regression tasks (Finn et al., 2017) and real intent-classification datasets.

Each named intent dataset is one :class:`DatasetSpec`, written next to its reader and added to the
registry :data:`DATASETS` by :func:`register`: :func:`load_intents` and :func:`class_splits` know no other.
xSID's 19 languages (:mod:`metanlp_lite.xsid`, whose readers are registered here) are ``"xsid:de"`` etc.
"""
from __future__ import annotations

import csv
import json
import math
import os
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import torch
from datasets import ClassLabel, Dataset, DatasetInfo, Features, Value, load_dataset
from torch import Tensor

from .episodes import TaskBatch
from .userfile import LABEL_COLUMNS, TEXT_COLUMNS, read_user_file  # noqa: F401  (the first two: once here)
from .xsid import XSID_INTENTS, XSID_LANGUAGES, XSID_SOURCE, fetch_xsid, read_xsid, xsid_files

# ---------------------------------------------------------------------------------------
# Sinusoid regression (Finn et al., 2017, section 5.1)
# ---------------------------------------------------------------------------------------
AMPLITUDE_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


def sinusoid(x: Tensor, amplitude: Tensor, phase: Tensor) -> Tensor:
    """y = a sin(x - psi): amplitude a, phase psi. x: (T, M, 1); amplitude, phase: (T,). Returns (T, M, 1)."""
    return amplitude[:, None, None] * torch.sin(x - phase[:, None, None])


def sample_sinusoid_params(n_tasks: int, generator: torch.Generator | None = None,
                           dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Amplitudes a ~ U[0.1, 5.0] and phases psi ~ U[0, pi], each of shape (n_tasks,)."""
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
# Intent classification: the registered datasets (CLINC150, BANKING77) or the user's CSV / JSONL
# ---------------------------------------------------------------------------------------
# Where a registered dataset comes from, in order: a local folder (argument ``data_dir`` or the
# environment variable METANLP_DATA_DIR) laid out like clinc150/data_full.json, banking77/train.csv,
# splits/{clinc150,banking77}/0N/labels.{train,valid,test}.txt; then its online source (for both
# the Hugging Face hub, cached the usual way).
DATA_DIR_ENV = "METANLP_DATA_DIR"
OUT_OF_SCOPE = "oos"
# The published class-disjoint meta-splits of ProtAugment (Dopierre et al., ACL 2021),
# fetched from their repository when no local folder holds them.
SPLITS_URL = ("https://raw.githubusercontent.com/tdopierre/ProtAugment/4233bbae/"
              "data/{folder}/few_shot/{split}/labels.{part}.txt")
PUBLISHED_SPLITS = ("01", "02", "03", "04", "05")

# (texts, intent names), one of each per utterance; a reader may add {column: one value per utterance}
Rows = tuple[list[str], list[str]] | tuple[list[str], list[str], dict[str, list]]


class ClassSplit(NamedTuple):
    """Class-disjoint meta-splits: lists of label names for meta-train, meta-val and meta-test."""

    train: list[str]
    val: list[str]
    test: list[str]


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset, all the package knows of it; :func:`register` adds it to :data:`DATASETS`.

    A family (e.g. xSID's languages, ``"xsid:de"``) registers one spec per member sharing a
    ``folder``, each with its reader (``functools.partial``) and its ``fetch_online``.
    """

    name: str  # what load_intents takes; also dataset.info.dataset_name
    display: str  # the name in messages: "CLINC150"
    read_local: Callable[[Path], Rows]  # its local folder -> (texts, intents)
    files: tuple[str, ...]  # what that folder holds, for messages
    download_size: str  # for messages: "about 1 MB"
    folder: str = ""  # the local folder under the data folder (default: name)
    aliases: tuple[str, ...] = ()  # other names load_intents takes (case, "-" and "_" ignored)
    hub_id: str | None = None  # online, by default: all splits of this Hugging Face hub dataset,
    hub_config: str | None = None  # in this config,
    hub_label_column: str = "label"  # the intents in this ClassLabel column,
    hub_revision_fallback: str | None = None  # retried at this revision if loading fails
    fetch_online: Callable[[DatasetSpec], Rows] | None = None  # or another source: spec -> (texts, intents)
    source: str = ""  # where fetch_online downloads from, for messages (default: the hub dataset)
    split_folder: str | None = None  # its folder in ProtAugment's published splits (SPLITS_URL), if any
    default_split: str = "random"  # class_splits' default
    named_splits: Mapping[str, ClassSplit] = field(default_factory=dict)  # its own, by name: "domains"
    columns: Mapping[str, Callable[[str], str]] = field(default_factory=dict)  # extra ones, of the intent
    labels: tuple[str, ...] = ()  # the ClassLabel names, if fixed (default: the intents found, sorted)

    def __post_init__(self) -> None:
        if (self.fetch_online is None) == (self.hub_id is None) or (self.fetch_online and not self.source):
            raise ValueError(f"dataset {self.name!r}: give either hub_id, or fetch_online and source")
        object.__setattr__(self, "folder", self.folder or self.name)
        object.__setattr__(self, "source", self.source or f"the hub dataset '{self.hub_id}'")


DATASETS: dict[str, DatasetSpec] = {}  # the named datasets, by name, in the order registered
_IGNORED = str.maketrans("", "", "-_")  # in dataset names


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to :data:`DATASETS` (replacing one of the same name); returns it."""
    for n in (spec.name, *spec.aliases):
        if (other := _find(n)) is not None and other.name != spec.name:
            raise ValueError(f"dataset name {n!r} is taken by {other.name!r}")
    DATASETS[spec.name] = spec
    return spec


def _find(name: str) -> DatasetSpec | None:
    """The registered dataset called ``name`` or one of its aliases (case, "-" and "_" ignored)."""
    names = {n.lower().translate(_IGNORED): s for s in DATASETS.values() for n in (s.name, *s.aliases)}
    return names.get(name.lower().translate(_IGNORED))


# CLINC150: its 10 domains and their 15 intents each (Larson et al., EMNLP 2019, CC BY 3.0;
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


_CLINC150_DOMAIN_OF = {intent: d for d, intents in CLINC150_DOMAINS.items() for intent in intents}


def _read_clinc150(folder: Path) -> Rows:
    path = folder / "data_full.json"
    if not path.is_file():
        raise FileNotFoundError(f"CLINC150: {path} is missing (expected the original data_full.json)")
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows = [r for part in ("train", "val", "test") for r in raw[part]]
    return [t for t, _ in rows], [i for _, i in rows]


register(DatasetSpec(
    "clinc150", "CLINC150", _read_clinc150, ("data_full.json",), "about 2.5 MB", aliases=("clinc", "clinc_oos"),
    hub_id="clinc/clinc_oos", hub_config="plus", hub_label_column="intent", split_folder="OOS",
    default_split="domains", named_splits={"domains": ClassSplit(*(
        sorted(i for d in CLINC150_DOMAIN_SPLIT[part] for i in CLINC150_DOMAINS[d]) for part in ClassSplit._fields))},
    columns={"domain": _CLINC150_DOMAIN_OF.__getitem__}))


def _read_banking77(folder: Path) -> Rows:
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


# (its hub repository is a loading script, which recent `datasets` no longer runs: the parquet holds the same rows)
register(DatasetSpec(
    "banking77", "BANKING77", _read_banking77, ("train.csv", "test.csv"), "about 1 MB", aliases=("banking",),
    hub_id="PolyAI/banking77", hub_revision_fallback="refs/convert/parquet", split_folder="BANKING77",
    default_split="01"))


for _code in XSID_LANGUAGES:  # one dataset per language; the same 16 label ids in every one
    register(DatasetSpec(
        f"xsid:{_code}", f"xSID {_code} ({XSID_LANGUAGES[_code]})", partial(read_xsid, _code), xsid_files(_code),
        "about 3 MB" if _code == "no" else "under 1 MB", folder="xsid", labels=XSID_INTENTS,
        fetch_online=partial(fetch_xsid, _code), source=XSID_SOURCE))


def _families() -> dict[str, list[str]]:
    """The registered families of datasets and their members: {"xsid": ["ar", "da", ...]}."""
    found: dict[str, list[str]] = {}
    for name in DATASETS:
        if ":" in name:
            found.setdefault(name.split(":")[0], []).append(name.split(":", 1)[1])
    return found


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
        name_or_path: a registered dataset's name (:data:`DATASETS`: ``"clinc150"``, ``"banking77"``,
            ``"xsid:de"`` (xSID's German; ``"xsid:en"``, ``"xsid:ja"`` ...: :data:`~metanlp_lite.xsid.XSID_LANGUAGES`)),
            or the path to the user's own CSV or JSONL file with one text and one label per row.
        data_dir: a local folder laid out like ``shared/data`` (see the README); defaults to
            $METANLP_DATA_DIR, and then to the dataset's online source (the Hugging Face hub).
        text_column, label_column: the column names of a user file (default: the first of
            the usual names found, e.g. ``text``/``sentence``/``utterance`` and
            ``label``/``intent``/``category``).

    Returns:
        A Dataset with columns ``text`` (str) and ``label`` (a ``ClassLabel`` whose names are
        the intents, sorted), plus the spec's extra columns (``domain`` (str) for CLINC150; for xSID
        ``split`` (str), ``position`` (int) and ``text_en`` (str), see :mod:`metanlp_lite.xsid`). All
        rows of every original split are included (meta-splits divide *classes*, not rows);
        out-of-scope rows are dropped. ``dataset.info.dataset_name`` is the registered name
        (``"clinc150"``, ``"banking77"``) or the file's stem.

    Raises:
        FileNotFoundError: the dataset is neither in the local folder nor reachable online;
            the message says how to point METANLP_DATA_DIR at a local copy.
        ValueError: an unknown name or xSID language (the message lists the registered ones), a user file
            lacks a text or label column, or has fewer than 2 classes.
    """
    if (spec := _find(str(name_or_path))) is not None:
        return _load_named(spec, data_dir)
    families, family = _families(), str(name_or_path).split(":")[0].lower()
    if family in families:  # "xsid:xx", or "xsid" alone
        raise ValueError(f"unknown dataset {str(name_or_path)!r}: {family} takes one of {', '.join(families[family])}"
                         f" after the colon, e.g. load_intents('{family}:{families[family][0]}')")
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() in (".csv", ".tsv", ".jsonl", ".json") or path.exists():
        return _to_dataset(path.stem, read_user_file(path, text_column, label_column))
    also = "".join(f"; or '{f}:' and one of {', '.join(m)}" for f, m in families.items())
    raise ValueError(f"unknown dataset {str(name_or_path)!r}: use {', '.join(repr(n) for n in DATASETS if ':' not in n)}, "
                     f"or the path to a .csv or .jsonl file with a text column and a label column{also}.")


def _load_named(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> Dataset:
    folder = data_dir_from_env(data_dir)
    if folder is not None:
        local = folder / spec.folder
        if local.is_dir():
            return _to_dataset(spec.name, spec.read_local(local), spec)
        if data_dir is not None:  # an explicit argument that does not hold the data is an error
            raise FileNotFoundError(f"{spec.name} was not found in {folder}: expected the folder {local} "
                                    "(see the layout in the project README, 'Data').")
    try:
        rows = (spec.fetch_online or _read_hub)(spec)
    except Exception as err:  # no network, offline mode, or a server's error
        where = f" (and {folder} has no {spec.folder}/ folder)" if folder is not None else ""
        files = " and ".join(f"{spec.folder}/{f}" for f in spec.files)
        reach, who = ("the Hugging Face hub", "The hub") if spec.fetch_online is None else (spec.source, "It")
        raise FileNotFoundError(
            f"{spec.display} is not cached and {reach} cannot be reached{where}.\n"
            f"  Point {DATA_DIR_ENV} at a folder holding {files}, e.g.\n"
            f"      export {DATA_DIR_ENV}=/path/to/data\n"
            f"  or connect to the internet once to let it download ({spec.download_size}) from {spec.source}.\n"
            f"  ({who} said: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from err
    return _to_dataset(spec.name, rows, spec)


def _read_hub(spec: DatasetSpec) -> Rows:
    """The default ``fetch_online``: every split of the spec's hub dataset."""
    try:
        dd = load_dataset(spec.hub_id, spec.hub_config)
    except Exception:
        if spec.hub_revision_fallback is None:
            raise
        dd = load_dataset(spec.hub_id, spec.hub_config, revision=spec.hub_revision_fallback)
    texts, labels = [], []
    for part in dd.values():
        names = part.features[spec.hub_label_column].names
        texts += part["text"]
        labels += [names[i] for i in part[spec.hub_label_column]]
    return texts, labels


def _to_dataset(name: str, rows: Rows, spec: DatasetSpec | None = None) -> Dataset:
    texts, labels, per_row = rows[0], rows[1], (rows[2] if len(rows) > 2 else {})  # type: ignore[misc]
    keep = [i for i, lab in enumerate(labels) if lab != OUT_OF_SCOPE]
    texts = [texts[i] for i in keep]
    labels = [labels[i] for i in keep]
    names = list(spec.labels) if spec is not None and spec.labels else sorted(set(labels))
    if len(set(labels)) < 2:
        raise ValueError(f"{name}: found {len(set(labels))} class(es); few-shot classification needs at least 2")
    if unknown := sorted(set(labels) - set(names)):
        raise ValueError(f"{name}: the intents {unknown[:5]} are not among the dataset's labels {names}")
    index = {n: i for i, n in enumerate(names)}
    data: dict[str, list] = {"text": texts, "label": [index[lab] for lab in labels]}
    features = {"text": Value("string"), "label": ClassLabel(names=names)}
    for column, of_label in (spec.columns if spec is not None else {}).items():
        data[column] = [of_label(lab) for lab in labels]
        features[column] = Value("string")
    for column, values in per_row.items():  # one value per utterance: str or int
        data[column] = [values[i] for i in keep]
        features[column] = Value("int64" if values and isinstance(values[0], int) else "string")
    feats = Features(features)
    return Dataset.from_dict(data, features=feats, info=DatasetInfo(dataset_name=name, features=feats))


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
        split: one of the dataset's own ``named_splits`` (``"domains"``, CLINC150's default:
            meta-train on banking, credit_cards, kitchen_and_dining, home, auto_and_commute,
            small_talk; meta-val on work, meta; meta-test on travel, utility), ``"01"`` ... ``"05"``
            (ProtAugment's published splits; BANKING77's default), or ``"random"`` (a seeded split
            of the classes by ``fractions``; the default otherwise). Defaults: the spec's ``default_split``.
        data_dir: where the published split files are (default $METANLP_DATA_DIR, then
            their public repository).
    """
    name = dataset.info.dataset_name
    spec = DATASETS.get(name)
    names: list[str] = dataset.features["label"].names
    if split is None:
        split = spec.default_split if spec is not None else "random"
    if spec is not None and split in spec.named_splits:
        return ClassSplit(*(list(p) for p in spec.named_splits[split]))
    own = {s: [d.display for d in DATASETS.values() if s in d.named_splits] for d in DATASETS.values()
           for s in d.named_splits}  # the datasets' own splits, e.g. {"domains": ["CLINC150"]}
    if split in own:
        raise ValueError(f"split={split!r} exists for {' and '.join(own[split])} only, not {name!r}; "
                         "use '01'..'05' or 'random'")
    if split in PUBLISHED_SPLITS:
        if spec is None or spec.split_folder is None:
            having = [d.name for d in DATASETS.values() if d.split_folder is not None]
            raise ValueError(f"the published splits exist for {' and '.join(having)}, not {name!r}; use 'random'")
        parts = [_read_split_file(spec, split, part, data_dir) for part in ("train", "valid", "test")]
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
    listed = "".join(f"{s!r} ({' and '.join(d)}), " for s, d in own.items())
    raise ValueError(f"unknown split {split!r}: use {listed}'01'..'05', or 'random'")


def _read_split_file(spec: DatasetSpec, split: str, part: str, data_dir: str | os.PathLike | None) -> list[str]:
    name, folder = spec.name, data_dir_from_env(data_dir)
    if folder is not None:
        path = folder / "splits" / name / split / f"labels.{part}.txt"
        if path.is_file():
            return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    url = SPLITS_URL.format(folder=spec.split_folder, split=split, part=part)
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
