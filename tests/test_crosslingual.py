"""Notebook 06's protocol: no meta-test sentence reaches training in any language, episodes stay
within one language, English support is the same episode translated, the body starts as the frozen
encoder, the n-grams read any script, and the shipped leave-one-language-out runs are complete."""
from __future__ import annotations

import pytest
import torch

from metanlp_lite import crosslingual as cl
from metanlp_lite.fewshot.features import HashedNgrams, ngrams
from metanlp_lite.leakage import normalised, twin_rows


@pytest.fixture(scope="module")
def corpus():
    """Swiss German, German and English (English is always loaded)."""
    return cl.load_corpus(["gsw", "de"], show_progress=False)


def test_the_corpus_is_parallel(corpus):
    assert corpus.language[0] == "en" and set(corpus.language) == {"en", "gsw", "de"}
    assert len(corpus.texts) == 3 * 800 and corpus.minilm.shape == (2400, 384) and len(corpus.chars) == 2400
    en = corpus.english
    assert all(corpus.language[i] == "en" for i in en.tolist())            # every row points to English
    assert all(corpus.text_en[r] == corpus.texts[e] for r, e in enumerate(en.tolist()))
    assert all(corpus.split[r] == corpus.split[e] for r, e in enumerate(en.tolist()))
    assert en[corpus.rows("en")].tolist() == corpus.rows("en").tolist()      # English points to itself
    no = cl.load_corpus(["no"], show_progress=False)                         # Norwegian: Bokmål only
    assert no.language.count("no") == 800


def test_position_split_keeps_meta_test_sentences_out_of_training(corpus):
    parts = cl.position_split(corpus)
    assert not (parts["train"] & parts["val"]) and not (parts["train"] | parts["val"]) & parts["test"]
    test_rows = {e for e, s in zip(corpus.text_en, corpus.split) if s == "test"}
    assert parts["test"] == test_rows and len(parts["test"]) == 451        # 500 sentences, 49 repeated texts
    assert "Show all alarms" in parts["test"]                              # in both files: meta-test only
    assert len(parts["val"]) == round(0.25 * (len(parts["train"]) + len(parts["val"])))
    assert not (parts["train"] | parts["val"] | parts["test"]) & parts["dropped"]
    assert cl.position_split(corpus, seed=1)["val"] != parts["val"]
    with pytest.raises(ValueError, match="val_fraction"):
        cl.position_split(corpus, val_fraction=1.0)


def test_no_meta_test_sentence_has_a_near_duplicate_in_training_or_validation():
    full = cl.load_corpus(show_progress=False)                  # all 19 languages
    parts = cl.position_split(full)
    seen = parts["train"] | parts["val"]
    for code in cl.LANGUAGES:                                   # the same words, up to case and punctuation
        words = {part: {normalised(t) for t, lang, e in zip(full.texts, full.language, full.text_en)
                        if lang == code and e in keys} for part, keys in (("test", parts["test"]), ("seen", seen))}
        assert not words["test"] & words["seen"], f"{code}: {sorted(words['test'] & words['seen'])[:3]}"
    english = {e: r for e, r in zip(full.text_en, full.english.tolist())}
    rows = lambda keys: torch.tensor([english[e] for e in sorted(keys)])
    assert len(twin_rows(full.minilm, full.texts, rows(seen), rows(parts["test"]))) == 0      # nor a cosine of 0.95
    # what the exact English strings missed: case and punctuation, a translation, a space
    assert {"Is it cloudy today?", "Set alarm for 7 am tomorrow", "Set alarm for 5am"} <= parts["dropped"]
    assert len(parts["dropped"]) == 37 and len(seen) == 211


def test_part_labels_and_language_episodes(corpus):
    parts = cl.position_split(corpus)
    labels = cl.part_labels(corpus, ["de", "gsw"], parts["train"])
    kept = labels >= 0
    assert all(corpus.language[i] in ("de", "gsw") and corpus.text_en[i] in parts["train"]
               for i in torch.nonzero(kept).flatten().tolist())
    assert torch.equal(labels[kept], corpus.labels[kept])
    episodes = cl.LanguageEpisodes(labels, corpus.language, 5, 1, 5, seed=3)
    assert episodes.languages == ["de", "gsw"]
    idx, classes = episodes.sample_indices(40)
    assert idx.support_x.shape == (40, 5) and idx.query_x.shape == (40, 25) and classes.shape == (40, 5)
    seen = set()
    for t in range(40):
        rows = torch.cat([idx.support_x[t], idx.query_x[t]]).tolist()
        langs = {corpus.language[r] for r in rows}
        assert len(langs) == 1                                               # one language per episode
        seen |= langs
        assert all(labels[r] >= 0 for r in rows)
        assert torch.equal(corpus.labels[idx.query_x[t]], classes[t][idx.query_y[t]])
    assert seen == {"de", "gsw"}
    with pytest.raises(ValueError, match="intents have"):                  # a named language too small
        cl.LanguageEpisodes(labels, corpus.language, 5, 20, 5, languages=["de"])


def test_the_body_starts_as_the_frozen_encoder(corpus):
    rows = torch.arange(50)
    for inputs in ("both", "minilm"):
        z = cl.encode(cl.LanguageBody(inputs), corpus, rows)
        assert z.dtype == torch.float64 and torch.allclose(z, corpus.minilm[rows].double(), atol=1e-6)
    chars = cl.encode(cl.LanguageBody("chars"), corpus, rows)
    assert chars.shape == (50, 384) and torch.allclose(chars.norm(dim=-1), torch.ones(50, dtype=torch.float64))
    assert not torch.allclose(chars, corpus.minilm[rows].double(), atol=1e-2)
    acc = cl.evaluate_language(None, corpus, "gsw", episodes=100)
    assert torch.equal(cl.evaluate_language(cl.LanguageBody("both"), corpus, "gsw", episodes=100), acc)
    with pytest.raises(ValueError, match="inputs"):
        cl.LanguageBody("words")


def test_english_support_is_the_same_episode_translated(corpus, monkeypatch):
    seen = []
    score = cl._episode_accuracy

    def spy(body, corpus_, idx, support_rows=None):
        seen.append((idx, support_rows))
        return score(body, corpus_, idx, support_rows)

    monkeypatch.setattr(cl, "_episode_accuracy", spy)
    cl.evaluate_language(None, corpus, "gsw", episodes=100, support="en")
    (idx, rows), = seen
    target = idx.support_x.flatten().tolist()
    for t, e in zip(target, rows.flatten().tolist()):     # each support sentence replaced by its own English original
        assert corpus.language[t] == "gsw" and corpus.language[e] == "en"
        assert (corpus.split[e], corpus.text_en[e], corpus.texts[e]) == (corpus.split[t], corpus.text_en[t], corpus.text_en[t])
    assert all(corpus.language[q] == "gsw" for q in idx.query_x.flatten().tolist())   # the queries stay in Swiss German
    monkeypatch.undo()
    en = cl.evaluate_language(None, corpus, "en", episodes=200)
    assert torch.equal(cl.evaluate_language(None, corpus, "en", episodes=200, support="en"), en)
    target = cl.evaluate_language(None, corpus, "gsw", episodes=200)
    zero_shot = cl.evaluate_language(None, corpus, "gsw", episodes=200, support="en")
    assert zero_shot.mean() < target.mean() - 15                             # 33 against 63 on 600 episodes
    assert torch.equal(cl.evaluate_language(None, corpus, "gsw", episodes=200), target)   # seeded
    with pytest.raises(ValueError, match="not in the corpus"):
        cl.evaluate_language(None, corpus, "zh")
    with pytest.raises(ValueError, match="support"):
        cl.evaluate_language(None, corpus, "gsw", support="de")


def test_leave_one_out_never_trains_on_the_target_or_meta_test(corpus, monkeypatch):
    seen = {}

    def fake_meta_train(body, corpus_, train, val, **kwargs):
        seen["train"], seen["val"] = train, val
        return cl.MetaTrainLog([0], [0.0], [], 0, 0.0)

    monkeypatch.setattr(cl, "meta_train", fake_meta_train)
    cl.leave_one_out(corpus, "gsw", "chars")
    test = cl.position_split(corpus)["test"]
    for part in ("train", "val"):
        rows = torch.nonzero(seen[part] >= 0).flatten().tolist()
        assert rows and {corpus.language[r] for r in rows} == {"de", "en"}
        assert not {corpus.text_en[r] for r in rows} & test
    with pytest.raises(ValueError, match="not in the corpus"):
        cl.leave_one_out(corpus, "zh")


def test_meta_training_improves_meta_val_and_keeps_the_best_step(corpus):
    parts = cl.position_split(corpus)
    train = cl.part_labels(corpus, ["de", "en"], parts["train"])
    val = cl.part_labels(corpus, ["de", "en"], parts["val"])
    body = cl.LanguageBody("both")
    log = cl.meta_train(body, corpus, train, val, steps=40, eval_every=20, val_episodes=100, show_progress=False)
    assert log.checked == [0, 20, 40] and len(log.losses) == 40
    assert max(log.val) > log.val[0] and log.best_step == log.checked[log.val.index(max(log.val))]
    assert body.W2.weight.abs().sum() > 0
    assert all(torch.equal(p, p.float().double()) for p in body.parameters())   # float32 numbers, held in float64
    # the body returned is the kept step's: it scores log.val there on the same meta-val episodes
    idx, _ = cl.LanguageEpisodes(val, corpus.language, 5, 1, 2, seed=1).sample_indices(100)     # 2 queries: val_query
    assert cl._episode_accuracy(body, corpus, idx).mean().item() == max(log.val)
    again = cl.LanguageBody("both")
    log2 = cl.meta_train(again, corpus, train, val, steps=40, eval_every=20, val_episodes=100, show_progress=False)
    assert log2.val == log.val and all(torch.equal(p, q) for p, q in zip(body.parameters(), again.parameters()))


def test_mixed_shots_and_the_supervised_control(corpus, monkeypatch):
    parts = cl.position_split(corpus)
    train = cl.part_labels(corpus, ["de", "en"], parts["train"])
    val = cl.part_labels(corpus, ["de", "en"], parts["val"])
    run = lambda **kw: cl.meta_train(cl.LanguageBody("both"), corpus, train, val, steps=4, eval_every=2,
                                     val_episodes=20, show_progress=False, **kw)
    one, mixed = run(), run(train_shots=(1, 5))
    assert one.losses[0] == mixed.losses[0] and one.losses[1] != mixed.losses[1]     # step 2: a 5-shot batch
    supervised = run(objective="supervised")
    assert supervised.checked == [0, 2, 4] and supervised.losses[0] > 2.0              # ~ln 16 over 16 intents
    assert supervised.val[0] == one.val[0]                                             # the same meta-val episodes
    with pytest.raises(ValueError, match="objective"):
        run(objective="maml")
    with pytest.raises(ValueError, match="train_shots"):
        run(train_shots=(0, 5))
    seen = {}
    monkeypatch.setattr(cl, "meta_train", lambda body, *a, **kw: seen.update(inputs=body.inputs, **kw)
                        or cl.MetaTrainLog([0], [0.0], [], 0, 0.0))
    cl.leave_one_out(corpus, "gsw", "both-mix")
    assert seen["inputs"] == "both" and seen["train_shots"] == (1, 5)
    cl.leave_one_out(corpus, "gsw", "both-sup")
    assert seen["objective"] == "supervised"
    model, log = cl.leave_one_out(corpus, "gsw", "both+frozen")
    assert isinstance(model, cl.WithFrozen) and model.body.inputs == "both" and log.val_kept is not None


def test_with_frozen_adds_the_frozen_similarity(corpus):
    body = cl.LanguageBody("both")                     # at its start (W2 = 0) the body is the frozen encoder
    rows = torch.arange(12)
    z = cl.encode(cl.WithFrozen(body), corpus, rows)
    assert z.shape == (12, 768) and torch.allclose(z.norm(dim=-1), torch.ones(12, dtype=z.dtype))
    x = cl.encode(None, corpus, rows)
    assert torch.allclose(z @ z.T, x @ x.T)            # so nearest class mean scores exactly as on the frozen encoder
    for k in (1, 5):
        assert torch.equal(cl.evaluate_language(cl.WithFrozen(body), corpus, "gsw", k_shot=k, episodes=50),
                           cl.evaluate_language(None, corpus, "gsw", k_shot=k, episodes=50))


def test_ngrams_read_any_script():
    assert ngrams("Weck mi um 7", (1,), (), any_script=True) == ["w:weck", "w:mi", "w:um", "w:7"]
    assert ngrams("تذكير", (1,), ()) == []                                   # ASCII words: nothing
    assert ngrams("تذكير", (1,), (), any_script=True) == ["w:تذكير"]
    assert ngrams("كَتَبَ بِسُرعة", (1,), (), any_script=True) == ["w:كَتَبَ", "w:بِسُرعة"]   # vowel marks inside words
    assert "c:<將鬧" in ngrams("將鬧鐘設定", (), (3,), any_script=True)
    h = HashedNgrams(["Wecker", "闹钟"], 64, any_script=True)
    assert (h.ids > 0).sum(1).min() > 0


def test_tokenizer_stats_and_char_overlap():
    class Pieces:                      # cuts words into 3-letter pieces; "xx" is unknown (id 0)
        class Encoding:
            def __init__(self, ids):
                self.ids = ids

        def token_to_id(self, token):
            return 0 if token == "[UNK]" else None

        def encode_batch(self, words, add_special_tokens=True):
            assert not add_special_tokens
            return [self.Encoding([0] if w == "xx" else [1] * len(range(0, len(w), 3))) for w in words]

    stats = cl.tokenizer_stats(["abcdef ab", "xx"], Pieces())
    assert stats == {"unk": 25.0, "unk_words": 100 / 3, "pieces_per_word": 4 / 3, "split_words": 100 / 3}
    with pytest.raises(ValueError):
        cl.tokenizer_stats([""], Pieces())
    assert cl.char_overlap(["abc"], ["abc"]) == 100.0
    assert cl.char_overlap(["abcd"], ["zabc"]) == 25.0       # of <ab, abc, bcd, cd> only abc is seen
    with pytest.raises(ValueError):
        cl.char_overlap([""], ["abc"])


def test_the_shipped_runs_cover_every_language():
    stored = cl.load_language_results()
    runs = stored["runs"]
    for code in cl.LANGUAGES:
        assert runs[f"ncm/{code}"]["k1"].shape == (600,) and runs[f"ncm/{code}"]["en1"].dtype == torch.uint8
        for key in [f"{i}/{code}/{s}" for s in (0, 1, 2) for i in ("both", "chars", "minilm", *cl.VARIANTS)]:
            run = runs[key]
            assert all(run[f"k{k}"].shape == (600,) for k in (1, 2, 5, 10)), key
            assert 0 <= run["best_step"] <= stored["config"]["steps"] and len(run["val"]) == 7
    assert float(runs["both/gsw/0"]["k1"].float().mean()) > float(runs["ncm/gsw"]["k1"].float().mean())
    with pytest.raises(FileNotFoundError, match="benchmarks/xsid_languages.py"):
        cl.load_language_results("/nonexistent/runs.pt")


def test_after_prefetch_the_corpus_needs_no_encoder(fake_encoder, monkeypatch):
    """prefetch embeds notebook 06's corpus: otherwise the notebook would spend 1.5 minutes encoding."""
    from metanlp_lite.__main__ import prefetch

    text = fake_encoder
    prefetch([], embeddings=True, states=False)

    def no_encoder(*a, **k):
        raise AssertionError("load_corpus loaded the encoder after prefetch")

    monkeypatch.setattr(text, "load_encoder", no_encoder)
    assert cl.load_corpus(show_progress=False).minilm.shape == (14800, 384)


def test_the_real_tokenizer_cuts_words_into_pieces():
    from metanlp_lite.text import load_tokenizer

    tokenizer = load_tokenizer()
    stats = cl.tokenizer_stats(["Cancel my reminder", "取消我的提醒"], tokenizer)
    assert stats["pieces_per_word"] > 1 and stats["unk"] > 0          # the Chinese word has a character BERT lacks
    assert cl.tokenizer_stats(["cancel my reminder"], tokenizer) == {"unk": 0.0, "unk_words": 0.0,
                                                                      "pieces_per_word": 1.0, "split_words": 0.0}


def test_another_encoder_offline_is_a_clear_error(corpus):
    with pytest.raises(RuntimeError, match="needs network access"):
        cl.reembed(corpus, "metanlp-lite/no-such-encoder", show_progress=False)


def test_the_command_line_runs_one_held_out_language(capsys):
    from metanlp_lite.__main__ import main

    assert main(["languages", "--target", "gsw", "--inputs", "--episodes", "50", "--shots", "1"]) == 0
    out = capsys.readouterr().out
    assert "held out: gsw" in out and "ncm, English support: 1-shot" in out
    assert "gsw: MiniLM's tokenizer: 0.0% [UNK] tokens" in out and "of its character trigrams occur" in out
    with pytest.raises(SystemExit):
        main(["languages", "--target", "xx"])
    with pytest.raises(SystemExit):                      # every body and variant is a choice, nothing else
        main(["languages", "--inputs", "both-maml"])
    import metanlp_lite.__main__ as cli
    import inspect
    assert all(f'"{v}"' in inspect.getsource(cli) for v in cl.VARIANTS)
