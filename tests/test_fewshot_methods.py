"""Tests of the few-shot methods, meta-training, evaluation and the command line of metanlp_lite.fewshot."""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metanlp_lite.episodes import TaskBatch
from metanlp_lite.fewshot.base import Method
from metanlp_lite.fewshot.bodies import ResidualMLP
from metanlp_lite.fewshot.cli import main
from metanlp_lite.fewshot.features import HashedNgrams, Pool, add_label_names, ngrams, split_class_ids
from metanlp_lite.fewshot.finetune import linear_head_step
from metanlp_lite.fewshot.maml_family import ANIL, ProtoMAML
from metanlp_lite.fewshot.methods import METHODS, build_method
from metanlp_lite.fewshot.metric import prototypes
from metanlp_lite.fewshot.training import evaluate_method, train_for, train_mean, train_method
from metanlp_lite.params import gradient_step
from metanlp_lite.stats import confusion_matrix, mean_ci95

DT = torch.float64


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster, and much faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cluster_pools(n_classes: int = 12, per_class: int = 30, dim: int = 16, spread: float = 0.1, seed: int = 0):
    """Well-separated unit-norm clusters; classes 0-5 meta-train, 6-8 meta-val, 9-11 meta-test."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=g)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    x = F.normalize(centres[labels] + spread * torch.randn(len(labels), dim, generator=g), dim=1)
    names = [f"class_{i}" for i in range(n_classes)]
    name_feats = F.normalize(centres, dim=1)
    parts = {"train": list(range(6)), "val": list(range(6, 9)), "test": list(range(9, 12))}
    return {p: Pool(x, labels, c, name_feats, names, names) for p, c in parts.items()}


# ---------------------------------------------------------------------------------------
# Every method solves a problem whose answer is known
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_every_method_separates_well_separated_clusters(method):
    torch.manual_seed(0)
    pools = cluster_pools()
    model, log = train_for(method, "minilm", pools, n_way=3, steps=10, show_progress=False, seed=0)
    accs = evaluate_method(model, pools["test"], n_way=3, k_shot=1, episodes=40, show_progress=False)
    assert accs.shape == (40,)
    assert accs.mean().item() >= 99.0, (method, accs.mean().item())
    if model.needs_training:
        assert log.steps[0] == 0 and log.best_step in log.steps and len(log.losses) == 10
        assert all(math.isfinite(v) for v in log.losses)


@pytest.mark.parametrize("method", ["ncm", "protonet", "maml", "protomaml"])
def test_methods_run_on_hashed_ngrams(method):
    texts = [f"{w} please {w}{i}" for w in ("flight", "hotel", "alarm", "weather", "timer", "song")
             for i in range(20)]
    labels = torch.arange(6).repeat_interleave(20)
    feats = HashedNgrams(texts, n_buckets=512)
    names = HashedNgrams(["flight", "hotel", "alarm", "weather", "timer", "song"], n_buckets=512)
    cls = [f"c{i}" for i in range(6)]
    pools = {p: Pool(feats, labels, c, names, cls, texts) for p, c in
             (("train", [0, 1, 2]), ("val", [3, 4, 5]), ("test", [3, 4, 5]))}
    model, _ = train_for(method, "bow", pools, n_way=3, steps=3, show_progress=False)
    accs = evaluate_method(model, pools["test"], n_way=3, k_shot=1, episodes=10, label_names=True,
                           show_progress=False)
    assert accs.mean().item() >= 90.0, (method, accs.mean().item())


def test_meta_training_improves_a_scrambled_problem_and_keeps_the_best_checkpoint():
    """Raw features mix up the classes (a random linear map squeezes them together); a
    learned projection must beat nearest class mean on new classes, and the checkpoint kept
    must be the one with the best meta-val accuracy."""
    g = torch.Generator().manual_seed(1)
    n, per, dim = 30, 40, 12
    centres = torch.randn(n, dim, generator=g)
    labels = torch.arange(n).repeat_interleave(per)
    clean = centres[labels] + 0.3 * torch.randn(len(labels), dim, generator=g)
    nuisance = 3.0 * torch.randn(len(labels), 1, generator=g) * torch.ones(1, dim)   # a shared direction
    x = clean + nuisance
    names = [str(i) for i in range(n)]
    pools = {p: Pool(x, labels, c, None, names, names) for p, c in
             (("train", list(range(20))), ("val", list(range(20, 25))), ("test", list(range(25, 30))))}
    ncm = evaluate_method(build_method("ncm", "minilm", dim), pools["test"], episodes=100, show_progress=False)
    model, log = train_for("protonet", "minilm", pools, steps=150, show_progress=False, lr=1e-2)
    learned = evaluate_method(model, pools["test"], episodes=100, show_progress=False)
    assert learned.mean() > ncm.mean() + 5, (learned.mean(), ncm.mean())
    assert log.best_val == max(log.val_acc) and log.val_acc[log.steps.index(log.best_step)] == log.best_val


def test_snapshots_hold_every_checked_state_and_choose_nothing():
    """train_method's snapshots: the state dict at every check (step 0 included), copies; the
    model kept and the log are those of a run without them."""
    pools = cluster_pools()
    args = dict(n_way=3, budget="quick", steps=40, show_progress=False, lr=1e-2)
    start = build_method("protonet", "minilm", 16, n_way=3, centre=train_mean(pools["train"])).state_dict()
    snaps: dict = {}
    model, log = train_for("protonet", "minilm", pools, snapshots=snaps, **args)
    plain, plain_log = train_for("protonet", "minilm", pools, **args)
    assert sorted(snaps) == log.steps == [0, 20, 40]
    assert all(torch.equal(snaps[0][k], v) for k, v in start.items())          # the untrained start
    assert not all(torch.equal(snaps[40][k], snaps[0][k]) for k in snaps[0])  # training moved it
    assert all(torch.equal(snaps[log.best_step][k], v) for k, v in model.state_dict().items())
    assert (log.val_acc, log.best_step, log.losses) == (plain_log.val_acc, plain_log.best_step, plain_log.losses)
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in model.state_dict().items())


class Recorder(Method):
    """A method that remembers which classes its training and validation batches came from.

    Features are the class id itself (x = [class id]), so the inputs reveal the classes."""

    name = "recorder"

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.seen_train: set[int] = set()
        self.seen_eval: set[int] = set()

    def loss(self, batch):
        self.seen_train |= set(batch.support_x.flatten().long().tolist()) | set(batch.query_x.flatten().long().tolist())
        return (self.w ** 2).sum()

    def logits(self, batch):
        self.seen_eval |= set(batch.support_x.flatten().long().tolist()) | set(batch.query_x.flatten().long().tolist())
        return torch.zeros(*batch.query_y.shape, int(batch.support_y.max()) + 1)


def test_meta_training_and_evaluation_keep_classes_apart():
    labels = torch.arange(15).repeat_interleave(20)
    x = labels[:, None].float()
    names = [str(i) for i in range(15)]
    pools = {p: Pool(x, labels, c, None, names, names) for p, c in
             (("train", list(range(0, 8))), ("val", list(range(8, 11))), ("test", list(range(11, 15))))}
    m = Recorder()
    train_method(m, pools["train"], pools["val"], n_way=3, steps=20, eval_every=5, val_episodes=30,
                 show_progress=False)
    assert m.seen_train == set(range(0, 8))
    assert m.seen_eval == set(range(8, 11))          # meta-val only, during training
    m.seen_eval.clear()
    evaluate_method(m, pools["test"], n_way=3, episodes=30, show_progress=False)
    assert m.seen_eval <= set(range(11, 15))


# ---------------------------------------------------------------------------------------
# Pieces checked against a second implementation (float64)
# ---------------------------------------------------------------------------------------
def test_linear_head_step_is_a_gradient_step_of_cross_entropy():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 10, 6, generator=g, dtype=DT)
    y = torch.randint(0, 4, (3, 10), generator=g)
    W = torch.randn(3, 4, 6, generator=g, dtype=DT, requires_grad=True)
    b = torch.randn(3, 4, generator=g, dtype=DT, requires_grad=True)
    loss = sum(F.cross_entropy(z[t] @ W[t].T + b[t], y[t]) for t in range(3))
    dW, db = torch.autograd.grad(loss, (W, b))
    W1, b1 = linear_head_step(z, y, W, b, lr=0.3)
    torch.testing.assert_close(W1, W - 0.3 * dW)
    torch.testing.assert_close(b1, b - 0.3 * db)


def test_anil_with_the_maml_engine_equals_the_closed_form_head_update():
    """ANIL adapts only the head with the MAML engine; for a linear head that must equal the
    closed-form gradient step, starting from the same (zero) head."""
    torch.manual_seed(0)
    anil = ANIL(ResidualMLP(8, 8).to(DT), dim=8, n_way=3, inner_lr=0.5, inner_steps=2, test_steps=2).to(DT)
    with torch.no_grad():
        anil.body.outer.weight.normal_()
    g = torch.Generator().manual_seed(1)
    sx, qx = torch.randn(4, 6, 8, generator=g, dtype=DT), torch.randn(4, 9, 8, generator=g, dtype=DT)
    sy, qy = torch.arange(3).repeat(2).expand(4, -1), torch.arange(3).repeat(3).expand(4, -1)
    batch = TaskBatch(sx, sy, qx, qy)
    z_s, z_q = anil.body(sx).detach(), anil.body(qx).detach()
    W = torch.zeros(4, 3, 8, dtype=DT)
    b = torch.zeros(4, 3, dtype=DT)
    for _ in range(2):
        W, b = linear_head_step(z_s, sy, W, b, 0.5)
    torch.testing.assert_close(anil.logits(batch), z_q @ W.transpose(1, 2) + b[:, None])


def test_protomaml_without_steps_is_a_prototype_classifier():
    torch.manual_seed(0)
    body = ResidualMLP(8, 8).to(DT)
    pm = ProtoMAML(body, inner_lr=0.1, inner_steps=0).to(DT)
    g = torch.Generator().manual_seed(2)
    batch = TaskBatch(torch.randn(5, 6, 8, generator=g, dtype=DT), torch.arange(3).repeat(2).expand(5, -1),
                      torch.randn(5, 12, 8, generator=g, dtype=DT), torch.arange(3).repeat(4).expand(5, -1))
    z_q = body(batch.query_x)
    c = prototypes(body(batch.support_x), batch.support_y, 3)
    expected = -torch.cdist(z_q, c) ** 2 + (z_q ** 2).sum(-1, keepdim=True)     # -|z - c|^2 + |z|^2
    torch.testing.assert_close(pm.logits(batch), expected)


def test_residual_projection_starts_as_the_identity_so_protonet_starts_as_ncm():
    pools = cluster_pools(spread=0.8)
    model = build_method("protonet", "minilm", 16, n_way=3)
    ncm = build_method("ncm", "minilm", 16, n_way=3)
    a = evaluate_method(model, pools["test"], n_way=3, episodes=50, show_progress=False)
    b = evaluate_method(ncm, pools["test"], n_way=3, episodes=50, show_progress=False)
    torch.testing.assert_close(a, b)
    x = torch.randn(4, 16)
    torch.testing.assert_close(ResidualMLP(16, 16)(x), F.normalize(x, dim=-1))


def test_label_names_are_appended_as_one_support_example_per_class():
    names = torch.arange(10, dtype=torch.float32)[:, None] * torch.ones(1, 2) + 100   # row c = [100 + c] * 2
    batch = TaskBatch(torch.zeros(2, 3, 2), torch.tensor([[0, 1, 2], [0, 1, 2]]), torch.zeros(2, 6, 2),
                      torch.zeros(2, 6, dtype=torch.long))
    classes = torch.tensor([[4, 7, 1], [0, 2, 9]])
    out = add_label_names(batch, classes, names)
    assert out.support_x.shape == (2, 6, 2)
    assert out.support_y.tolist() == [[0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2]]
    assert out.support_x[0, 3:, 0].tolist() == [104.0, 107.0, 101.0]
    assert out.support_x[1, 3:, 0].tolist() == [100.0, 102.0, 109.0]


def test_label_names_help_when_the_support_example_is_misleading():
    """Each class's single support example is pure noise, but its name is the class centre."""
    pools = cluster_pools(spread=0.05)
    g = torch.Generator().manual_seed(3)
    noisy = Pool(torch.randn(pools["test"].features.shape, generator=g) * 0.01 + pools["test"].features,
                 *pools["test"][1:])
    ncm = build_method("ncm", "minilm", 16)
    with_names = evaluate_method(ncm, noisy, n_way=3, episodes=30, label_names=True, show_progress=False)
    assert with_names.mean().item() == 100.0


def test_hashed_ngrams_are_stable_normalised_count_vectors():
    assert ngrams("Book a flight", (1,), (3,))[:4] == ["w:book", "w:a", "w:flight", "c:<bo"]
    feats = HashedNgrams(["book a flight", "book a hotel", "", "book a flight"], n_buckets=256)
    dense = feats[torch.tensor([0, 1, 2, 3])]
    assert dense.shape == (4, 256) and feats.shape == (4, 256)
    torch.testing.assert_close(dense[[0, 1, 3]].norm(dim=1), torch.ones(3))
    assert dense[2].abs().sum() == 0 and dense[:, 0].abs().sum() == 0    # empty text; padding bucket
    torch.testing.assert_close(dense[0], dense[3])
    assert 0.2 < (dense[0] @ dense[1]).item() < 0.9                       # shared words, not the same
    again = HashedNgrams(["book a flight"], n_buckets=256)[torch.tensor([0])]
    torch.testing.assert_close(again[0], dense[0])                        # crc32: the same in every run
    assert feats[torch.tensor([[0, 1], [2, 3]])].shape == (2, 2, 256)


# ---------------------------------------------------------------------------------------
# Intervals and summaries
# ---------------------------------------------------------------------------------------
def test_ci95_formula_and_its_coverage():
    v = torch.tensor([70.0, 80.0, 90.0, 100.0, 60.0])
    m, h = mean_ci95(v)
    s = math.sqrt(sum((x - 80.0) ** 2 for x in v.tolist()) / 4)             # unbiased standard deviation
    assert m == 80.0 and h == pytest.approx(1.96 * s / math.sqrt(5))
    # the interval covers the true mean about 95% of the time (normal data, n = 600)
    g = torch.Generator().manual_seed(0)
    hits = 0
    for _ in range(400):
        m, h = mean_ci95(85 + 10 * torch.randn(600, generator=g, dtype=DT))
        hits += abs(m - 85) <= h
    assert 0.91 <= hits / 400 <= 0.98


def test_confusion_matrix_counts():
    c = confusion_matrix(torch.tensor([0, 1, 1, 2, 0]), torch.tensor([0, 1, 2, 2, 1]), 3)
    assert c.tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert c.sum().item() == 5


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------
WORDS = ["flight", "hotel", "alarm", "weather", "timer", "song", "recipe", "taxi", "bank", "card",
         "train", "music", "pizza", "movie", "doctor"]


@pytest.fixture
def intents_csv(tmp_path):
    path = tmp_path / "intents.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for c, word in enumerate(WORDS):
            for i in range(20):
                w.writerow([f"i need the {word} now {i % 5}", f"intent_{word}"])
    return path


def test_cli_prints_one_json_line(intents_csv, capsys):
    assert main(["--data", str(intents_csv), "--method", "protonet", "--encoder", "bow", "--n-way", "3",
                 "--k-shot", "1", "--episodes", "20", "--steps", "4", "--seed", "0"]) == 0
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert {"mean", "ci95", "settings", "seconds"} <= set(result)
    assert result["settings"]["method"] == "protonet" and result["settings"]["n_way"] == 3
    assert result["settings"]["train_steps"] == 4 and result["n_classes"] == {"train": 9, "val": 3, "test": 3}
    assert 90.0 <= result["mean"] <= 100.0 and result["ci95"] >= 0
    assert "meta-training protonet" in out.err              # progress goes to stderr


def test_cli_as_a_module(intents_csv):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-m", "metanlp_lite.fewshot", "--data", str(intents_csv),
                           "--method", "ncm", "--encoder", "bow", "--n-way", "3", "--episodes", "10", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mean"] == 100.0 and result["settings"]["label_names"] is False


@pytest.mark.parametrize("args, message", [
    (["--method", "magic"], "invalid choice: 'magic'"),
    (["--method", "ncm", "--k-shot", "0"], "expected a number >= 1"),
    (["--method", "ncm", "--n-way", "two"], "expected a whole number"),
    (["--method", "ncm", "--n-way", "5"], "cannot sample 5-way tasks: only 3 classes"),
    (["--method", "ncm", "--n-way", "3", "--k-shot", "30"], "has only 20 examples"),
    (["--method", "ncm", "--episodes", "1"], "at least 2 episodes"),
])
def test_cli_bad_arguments_get_clear_messages(intents_csv, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(intents_csv), "--encoder", "bow", "--quiet", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path / "nope.csv"), "--method", "ncm", "--quiet"])
    assert "does not exist" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Class disjointness in every setting of the notebook (real data)
# ---------------------------------------------------------------------------------------
def _check_disjoint(ids):
    tr, va, te = (set(ids[p]) for p in ("train", "val", "test"))
    assert tr and va and te
    assert not (tr & va) and not (tr & te) and not (va & te)


def test_clinc150_domain_split_is_class_disjoint(clinc150):
    ids = split_class_ids(clinc150)
    _check_disjoint(ids)
    domains = {clinc150.features["label"].int2str(c) for c in ids["test"]}
    test_domains = set(clinc150.select([i for i, lab in enumerate(clinc150["label"]) if lab in set(ids["test"])])["domain"])
    assert test_domains == {"travel", "utility"} and len(domains) == 30


@pytest.mark.parametrize("split", ["01", "02", "03", "04", "05"])
def test_banking77_published_splits_are_class_disjoint(banking77, split):
    ids = split_class_ids(banking77, split)
    _check_disjoint(ids)
    assert [len(ids[p]) for p in ("train", "val", "test")] == [25, 25, 27]


def test_cross_domain_test_classes_are_not_clinc150_training_classes(clinc150, banking77):
    """CLINC150 -> BANKING77: no BANKING77 test intent is (by name) a CLINC150 meta-train or
    meta-val intent; the overlap is of topic, not of labels."""
    ids = split_class_ids(clinc150)
    seen = {clinc150.features["label"].int2str(c) for c in ids["train"] + ids["val"]}
    test = {banking77.features["label"].int2str(c) for c in split_class_ids(banking77, "01")["test"]}
    assert not (seen & test)


def test_random_split_of_a_user_file_is_class_disjoint(intents_csv):
    from metanlp_lite.data import load_intents

    for seed in range(3):
        _check_disjoint(split_class_ids(load_intents(intents_csv), seed=seed))


def test_protomaml_second_order_through_layernorm_matches_finite_differences():
    """Proto-MAML's inner steps run on the MAML engine (metanlp_lite.maml.inner_loop_batched):
    its exact meta-gradient through LayerNorm, where vmap(grad(...)) is known to be wrong at
    second order, agrees with central finite differences in float64."""
    from metanlp_lite.objective import finite_difference_grad

    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.Tanh()).double()
    method = ProtoMAML(body, inner_lr=0.3, inner_steps=2, first_order=False)
    g = torch.Generator().manual_seed(1)
    batch = TaskBatch(torch.randn(2, 6, 6, generator=g, dtype=torch.float64), torch.tensor([[0, 0, 1, 1, 2, 2]] * 2),
                      torch.randn(2, 9, 6, generator=g, dtype=torch.float64), torch.tensor([[0, 1, 2] * 3] * 2))
    names = [n for n, _ in body.named_parameters()]
    theta = {n: p.detach().clone() for n, p in body.named_parameters()}

    def loss_at(params):
        with torch.no_grad():
            for n, p in body.named_parameters():
                p.copy_(params[n])
        return method.loss(batch).detach()

    exact = dict(zip(names, torch.autograd.grad(method.loss(batch), list(body.parameters()))))
    numeric = finite_difference_grad(loss_at, theta, eps=1e-6)
    loss_at(theta)
    for n in names:
        torch.testing.assert_close(exact[n], numeric[n], rtol=1e-6, atol=1e-8)
    first = ProtoMAML(body, inner_lr=0.3, inner_steps=2, first_order=True)
    fo = torch.autograd.grad(first.loss(batch), list(body.parameters()))
    assert max((a - b).abs().max() for a, b in zip(fo, exact.values())) > 1e-4   # second order matters here


class Plateau(Method):
    """A method whose meta-val accuracy is fixed by a schedule of weights: w follows the steps,
    and predictions are right exactly when w is in ``good`` (so meta-val peaks, then falls)."""

    name = "plateau"

    def __init__(self, good):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.good = good
        self.shots_seen: set[int] = set()

    def loss(self, batch):
        return -self.w.sum()                                  # every step raises w by about lr

    def logits(self, batch):
        n = int(batch.support_y.max()) + 1
        self.shots_seen.add(batch.support_y.shape[1] // n)
        right = round(self.w.item()) in self.good
        out = torch.zeros(*batch.query_y.shape, n)
        return out.scatter(-1, batch.query_y[..., None], 1.0) if right else out.scatter(
            -1, ((batch.query_y + 1) % n)[..., None], 1.0)


def test_early_stopping_stops_after_patience_checks_and_keeps_the_best():
    labels = torch.arange(15).repeat_interleave(20)
    x = torch.randn(len(labels), 4, generator=torch.Generator().manual_seed(0))
    names = [str(i) for i in range(15)]
    pools = {p: Pool(x, labels, c, None, names, names) for p, c in
             (("train", list(range(5))), ("val", list(range(5, 10))), ("test", list(range(10, 15))))}
    m = Plateau(good={2, 3})                  # with lr 1 (Adam), w is ~step: meta-val is 100% at steps 2-3 only
    log = train_method(m, pools["train"], pools["val"], n_way=3, steps=50, lr=1.0, eval_every=1,
                       val_episodes=10, patience=4, val_shots=(1,), show_progress=False)
    assert log.best_step == 2 and log.best_val == 100.0
    assert log.steps[-1] == 2 + 4, f"stopped at {log.steps[-1]}, not 4 checks after the best (step 2)"
    assert round(m.w.item()) == 2                          # the best checkpoint is loaded
    assert m.shots_seen == {1}                              # meta-val episodes were 1-shot only
    full = train_method(Plateau(good={2, 3}), pools["train"], pools["val"], n_way=3, steps=12, lr=1.0, eval_every=1,
                        val_episodes=10, show_progress=False)
    assert full.steps[-1] == 12                             # no patience: every step runs


def test_per_parameter_step_sizes():
    theta = {"head": torch.tensor([1.0, 2.0]), "layer": torch.tensor([[3.0]])}
    g = {"head": torch.tensor([1.0, 1.0]), "layer": torch.tensor([[1.0]])}
    phi = gradient_step(theta, g, {"head": 0.5, "layer": torch.tensor(0.01)})
    assert torch.equal(phi["head"], torch.tensor([0.5, 1.5])) and torch.allclose(phi["layer"], torch.tensor([[2.99]]))
    assert torch.equal(gradient_step(theta, g, 0.5)["layer"], torch.tensor([[2.5]]))
    with pytest.raises(ValueError, match="lr's names"):
        gradient_step(theta, g, {"head": 0.5})
