"""``python -m metanlp_lite stream``: notebook 07's experiment on other data through the command line
(metanlp_lite.stream_experiment), its one-line errors, a user's own file, and the stored runs of
benchmarks/continual_datasets.py. Tiny settings (2 streams, 2 meta-training steps): seconds."""
from __future__ import annotations

import csv

import pytest
import torch

from metanlp_lite import continual as cl
from metanlp_lite import stream_experiment as se
from metanlp_lite.__main__ import main, stream
from metanlp_lite.stats import mean_ci95_t


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    """main(argv)'s exit status and its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


def write_csv(path, clinc150, n_intents: int, per_intent: int = 8):
    """A user file of ``n_intents`` CLINC150 intents, ``per_intent`` of their real sentences each
    (sentences and names the embedding cache holds: no encoding)."""
    names = clinc150.features["label"].names[:n_intents]
    rows = []
    for label, name in enumerate(names):
        texts = [t for t, y in zip(clinc150["text"], clinc150["label"]) if y == label][:per_intent]
        rows += [{"text": t, "intent": name} for t in texts]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "intent"])
        writer.writeheader()
        writer.writerows(rows)
    return path, names


def test_the_registry_holds_notebook_07s_grid_and_heads():
    assert cl.GRID == {"lr": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0), "steps": (1, 5)}
    assert list(cl.HEADS) == ["fine-tuning", "fine-tuning, no bias", "fine-tuning, cosine head", "fine-tuning, WA",
                              "fine-tuning + replay", "Proto-MAML init"]
    for kw in cl.HEADS.values():
        cl.OnlineHead(**kw)                      # every head's switches are OnlineHead's
    names = se.learner_names()
    assert names[:8] == ["nearest class mean", *cl.HEADS, "OML"] and len(names) == 18
    assert all(n.endswith(" + names") for n in names[9:])


@pytest.mark.parametrize("argv, says", [
    (["--streams", "0"], "--streams is 0"),
    (["--streams", "1"], "set --streams to 2 or more"),
    (["--oml-steps", "-1"], "set --oml-steps to 0"),
    (["--n-query", "0"], "set --n-query to 1 or more"),
    (["--data", "no-such-dataset"], "unknown data 'no-such-dataset': use clinc150, banking77, clinc150-domains"),
    (["--data", "missing.csv"], "missing.csv does not exist"),
])
def test_bad_settings_are_one_line_errors_naming_the_fix(argv, says, capsys):
    code, err = run_main(["stream", *argv], capsys)
    assert code == 2 and says in err
    assert err.startswith("python -m metanlp_lite stream: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_a_file_with_too_few_intents_or_examples_is_a_one_line_error(tmp_path, clinc150, capsys):
    few, _ = write_csv(tmp_path / "few.csv", clinc150, 8)          # 4 meta-train, 1 meta-val, 3 test intents
    code, err = run_main(["stream", "--data", str(few), "--streams", "2"], capsys)
    assert code == 2 and "4 meta-train, 1 meta-val, 3 test-stream intents" in err and "at least 9 intents" in err
    assert err.count("\n") == 1
    short, _ = write_csv(tmp_path / "short.csv", clinc150, 12)     # 8 sentences an intent; a stream needs 1 + 20
    code, err = run_main(["stream", "--data", str(short), "--streams", "2"], capsys)
    assert code == 2 and "with 8" in err and "lower --n-query to at most 7" in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="lower n_query to at most 7"):    # the Python API says its keywords
        se.run_experiment(str(short), n_streams=2, show_progress=False)


def test_clinc150_domains_tests_on_travel_and_utility(clinc150):
    data = se.load_experiment_data("clinc150-domains", show_progress=False)
    domain = {int(y): d for y, d in zip(clinc150["label"], clinc150["domain"])}
    assert {domain[c] for c in data.classes["test"]} == {"travel", "utility"} and len(data.classes["test"]) == 30
    assert {domain[c] for c in data.classes["val"]} == {"work", "meta"}
    assert len(data.classes["train"]) == 90
    default = cl.load_stream_data("clinc150", show_progress=False)        # notebook 07's split is unchanged
    assert [len(default.classes[p]) for p in ("train", "val", "test")] == [75, 25, 50]


def test_a_users_csv_runs_every_learner_with_and_without_names(tmp_path, clinc150, capsys, monkeypatch):
    path, names = write_csv(tmp_path / "mine.csv", clinc150, 12)       # 6 meta-train, 2 meta-val, 4 test intents
    monkeypatch.setattr(se, "GRID", {"lr": (0.01, 0.1), "steps": (1,)})   # a smaller grid to choose from: faster
    runs = stream(str(path), n_streams=2, oml_steps=2, n_query=5)
    out = capsys.readouterr().out
    assert "2 test streams of 4 intents" in out and "minus nearest class mean + names" in out
    assert "95th percentile" in out and "OML + names:" in out
    assert list(runs) == se.learner_names()
    for rs in runs.values():
        assert len(rs) == 2 and rs[0].acc.shape == (4, 4) and not rs[0].acc[-1].isnan().any()


def test_the_command_line_passes_its_settings_on(monkeypatch):
    seen = {}

    def fake_run(data, **settings):
        seen.update(settings, data=data)
        raise ValueError("stop here")

    monkeypatch.setattr(se, "run_experiment", fake_run)
    with pytest.raises(SystemExit):
        main(["stream", "--data", "mine.csv", "--streams", "3", "--oml-steps", "4", "--n-query", "5", "--seed", "6",
              "--joint"])
    assert seen == {"data": "mine.csv", "n_streams": 3, "oml_steps": 4, "seed": 6, "first": 10, "n_query": 5,
                    "joint": True}


def test_the_stored_runs_have_every_learners_matrices():
    stored = se.load_dataset_results()
    assert set(stored) == {"banking77", "clinc150-domains"}
    for name, record in stored.items():
        config = record["config"]
        assert (config["streams"], config["oml_steps"], config["seed"]) == (20, 150, 0) and config["cpu"]
        C = config["sizes"]["test"]
        assert C == len(record["classes"]["test"]) == {"banking77": 26, "clinc150-domains": 30}[name]
        assert list(record["learners"]) == se.learner_names(joint=True)
        for learner in record["learners"].values():
            assert learner["acc"].shape == (20, C, C) and learner["acc"].dtype == torch.float32
            assert not learner["acc"][:, -1].isnan().any()
        assert record["training"]["OML"]["best_step"] in record["training"]["OML"]["checked"]
        table = se.results_table(record).splitlines()
        assert len(table) == 1 + len(record["learners"]) + 2 and "same information" in table[0]
        # each learner against nearest class mean with the same information: OML without names against the plain one
        finals = {n: cl.average_accuracy(v["acc"])[:, -1] for n, v in record["learners"].items()}
        m, h = mean_ci95_t(finals["OML"] - finals["nearest class mean"])
        oml_row = next(line for line in table if line.split("  ")[0].strip() == "OML" or line.strip().startswith("OML "))
        assert oml_row.rstrip().endswith(f"{round(m, 2) + 0.0:+6.2f} ± {h:4.2f}")
        assert table[-2].startswith("meta-val picks, without names: ") and table[-1].startswith("meta-val picks, with names: ")
