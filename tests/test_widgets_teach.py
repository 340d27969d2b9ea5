"""Notebook 07's "teach it" tools (``widgets.teach_report`` and ``widgets.teach_intent``) on an
:class:`~metanlp_lite.continual.Assistant` with a fake embedding (hashed bags of words), so no
encoder is needed."""
from __future__ import annotations

import html
import re
import zlib

import pytest
import torch

from metanlp_lite.continual import Assistant
from metanlp_lite.widgets import teach_intent, teach_report

pytest.importorskip("ipywidgets")


def fake_embed(texts):
    """Each word adds 1 to a dimension chosen by its crc32: unit vectors in 384 dimensions that
    are close when sentences share words (deterministic on every machine)."""
    out = torch.zeros(len(texts), 384)
    for i, text in enumerate(texts):
        for word in re.findall(r"[a-z']+", text.lower()):
            out[i, zlib.crc32(word.encode()) % 384] += 1
    return torch.nn.functional.normalize(out, dim=-1)


KNOWN = {
    "weather": ["what is the weather today", "will it rain tomorrow", "is it sunny outside"],
    "play music": ["play some jazz music", "put on my favourite song", "play the radio"],
    "set alarm": ["wake me up at seven", "set an alarm for six", "alarm for tomorrow morning"],
}
NEW = "water the plants"
EXAMPLES = ["remind me to water the tomato plants", "the garden plants need water"]
TEST = "please water my tomato plants"


@pytest.fixture
def assistant():
    a = Assistant(fake_embed)
    for intent, examples in KNOWN.items():
        a.teach(intent, examples)
    return a


def find(box, cls):
    """The widget inside ``box`` with the CSS class ``cls``."""
    stack = [box]
    while stack:
        widget = stack.pop()
        if cls in getattr(widget, "_dom_classes", ()):
            return widget
        stack += list(getattr(widget, "children", ()))
    raise AssertionError(f"no widget with class {cls}")


def test_the_fake_embedding_needs_teaching():
    """Guards the tests below: before teaching, the test sentence is one of the known intents."""
    a = Assistant(fake_embed)
    for intent, examples in KNOWN.items():
        a.teach(intent, examples)
    assert a.predict([TEST])[0].intent in KNOWN
    a.teach(NEW, EXAMPLES)
    assert a.predict([TEST])[0].intent == NEW


def test_teach_report_leaves_the_assistant_unchanged(assistant):
    sums = assistant.learner.sums.clone()
    report = teach_report(assistant, NEW, EXAMPLES, [TEST])
    assert NEW in report
    assert assistant.intents == list(KNOWN)
    assert torch.equal(assistant.learner.sums, sums)
    assert assistant.predict([TEST])[0].intent != NEW


def test_teach_report_shows_before_and_after(assistant):
    tests = [TEST, "will it rain in the garden"]
    report = teach_report(assistant, NEW, EXAMPLES, tests, k=2)
    lines = report.splitlines()
    befores = [line.split() for line in lines if line.startswith("    before ")]
    afters = [line.split() for line in lines if line.startswith("    after ")]
    assert len(befores) == len(afters) == 2
    assert " ".join(afters[0][1:4]) == NEW and " ".join(befores[0][1:4]) != NEW
    assert afters[1][1] == "weather"                  # a sentence far from the examples keeps its intent
    # numbers as printed: confidence to 1 decimal, k = 2 cosines to 2 decimals
    assert re.search(r"\b\d+\.\d %", " ".join(afters[0])) and not re.search(r"\d\.\d\d\d", report)
    assert len(re.findall(r" \d\.\d\d\b", lines[lines.index(repr(TEST)) + 2])) == 2
    assert f"{NEW!r} is now the prediction for 1 of 2 test sentences (before: 0)" in report
    assert all(e in report for e in EXAMPLES)
    assert "ms" not in report.split()                 # no timings: stored outputs must not change
    assert teach_report(assistant, NEW, EXAMPLES, tests, k=2) == report


def test_teach_report_passes_bad_input_on(assistant):
    with pytest.raises(ValueError, match="name"):
        teach_report(assistant, "  ", EXAMPLES, [TEST])


def test_the_widgets_teach_button_teaches_the_live_assistant(assistant):
    box = teach_intent(assistant)
    out = find(box, "teach-intent-output")
    find(box, "teach-intent-tests").value = TEST
    find(box, "teach-intent-predict").click()
    assert 'class="teach-intent-prediction"' in out.value and NEW not in out.value
    find(box, "teach-intent-name").value = NEW
    find(box, "teach-intent-examples").value = "\n".join(EXAMPLES) + "\n\n"
    find(box, "teach-intent-teach").click()
    assert assistant.intents == [*KNOWN, NEW]
    assert assistant.predict([TEST])[0].intent == NEW
    after = re.search(r'class="teach-intent-prediction"><code>([^<]*)</code>', out.value)
    before = re.search(r'class="teach-intent-before"><code>([^<]*)</code>', out.value)
    assert after and after.group(1) == NEW
    assert before and before.group(1) in KNOWN
    assert re.search(r"in \d+ ms", out.value)


def test_the_widget_shows_bad_input_instead_of_raising(assistant, caplog):
    box = teach_intent(assistant)
    out = find(box, "teach-intent-output")
    find(box, "teach-intent-examples").value = EXAMPLES[0]
    find(box, "teach-intent-teach").click()               # no name
    assert "needs a name" in out.value and "teach-intent-error" in out.value
    find(box, "teach-intent-name").value = NEW
    find(box, "teach-intent-examples").value = "  \n"
    find(box, "teach-intent-teach").click()               # no example
    assert "example" in out.value and "teach-intent-error" in out.value
    assert assistant.intents == list(KNOWN)
    find(box, "teach-intent-predict").click()             # no test sentence
    assert "test sentence" in out.value and "teach-intent-error" in out.value
    # ipywidgets catches what a click handler raises and only logs it: nothing may have been raised
    assert not [r for r in caplog.records if "Exception in callback" in r.getMessage()]


def test_the_widget_escapes_what_it_shows(assistant):
    box = teach_intent(assistant)
    out = find(box, "teach-intent-output")
    find(box, "teach-intent-name").value = "<b>bold</b>"
    find(box, "teach-intent-examples").value = "make it <b>bold</b>"
    find(box, "teach-intent-tests").value = "is this <i>bold</i>"
    find(box, "teach-intent-teach").click()
    assert "<b>bold</b>" in assistant.intents
    assert "&lt;b&gt;bold&lt;/b&gt;" in out.value and "&lt;i&gt;bold&lt;/i&gt;" in out.value
    assert "<i>bold</i>" not in out.value and "<b>bold</b>" not in out.value


# --- held-out sentences of the old intents: what a new intent costs them ---------------------------
HELD_OUT = (["will it rain on the garden plants", "is it sunny for my plants", "what is the weather in the garden",
             "play music for my plants", "play a song", "wake me up to water the garden",
             "is it cold outside",              # labelled "set alarm": wrong before and after (weather)
             "please water the flowers"],       # of the new intent: not an old intent's, never counted
            ["weather", "weather", "weather", "play music", "play music", "set alarm", "set alarm", NEW])
OLD_LINE = re.compile(r"Old intents: ([\d.]+)% → ([\d.]+)% right on ([\d,]+) held-out sentences? of (\d+) intents?:\n"
                      r"  (\d+) newly predicted as '([^']*)', (\d+) right before and wrong now, "
                      r"(\d+) wrong before and right now\.")


def direct(assistant, intent, examples, held_out=HELD_OUT):
    """The old intents' accuracy (percent) before and after teaching, computed here on a copy, and how many
    of their sentences: M, intents, newly predicted as ``intent``, right -> wrong, wrong -> right."""
    import copy

    a = copy.deepcopy(assistant)
    old = [(t, y) for t, y in zip(*held_out) if y in a.intents]
    before = [p.intent for p in a.predict([t for t, _ in old])]
    a.teach(intent, examples)
    after = [p.intent for p in a.predict([t for t, _ in old])]
    truth = [y for _, y in old]
    acc = lambda pred: 100 * sum(p == y for p, y in zip(pred, truth)) / len(truth)
    return (f"{acc(before):.1f}", f"{acc(after):.1f}", str(len(old)), str(len(set(truth))),
            str(sum(q == intent != p for p, q in zip(before, after))),
            str(sum(y == p != q for y, p, q in zip(truth, before, after))),
            str(sum(y == q != p for y, p, q in zip(truth, before, after))))


def parsed(text):
    m = OLD_LINE.search(text)
    assert m, text
    g = m.groups()
    return (g[0], g[1], g[2].replace(",", ""), g[3], g[4], g[6], g[7]), g[5]


def test_teach_report_says_what_the_new_intent_costs_the_old_ones(assistant):
    report = teach_report(assistant, NEW, EXAMPLES, [TEST], held_out=HELD_OUT)
    numbers, name = parsed(report)
    assert name == NEW
    assert numbers == direct(assistant, NEW, EXAMPLES)
    # the new intent steals two weather/alarm sentences: 6 of 7 right before, 4 of 7 after
    assert numbers == ("85.7", "57.1", "7", "3", "2", "2", "0")
    assert float(numbers[1]) < float(numbers[0])
    assert assistant.intents == list(KNOWN)             # the report works on a copy


def test_teach_report_without_held_out_is_unchanged(assistant):
    without = teach_report(assistant, NEW, EXAMPLES, [TEST])
    assert without == teach_report(assistant, NEW, EXAMPLES, [TEST], held_out=None)
    assert "Old intents" not in without and "held-out" not in without
    with_held = teach_report(assistant, NEW, EXAMPLES, [TEST], held_out=HELD_OUT)
    assert with_held.startswith(without + "\n\nOld intents: ")
    assert with_held.count("\n") == without.count("\n") + 3     # a blank line and the two lines of the summary
    assert teach_report(assistant, NEW, EXAMPLES, [], held_out=HELD_OUT).endswith(with_held[len(without):])


def test_held_out_counts_only_the_intents_known_before(assistant):
    far = (["the garden plants need water badly"], [NEW])           # of the new intent only: no old sentence
    assert "none of the 1 held-out sentences" in teach_report(assistant, NEW, EXAMPLES, [], held_out=far)
    # more examples of a known intent: its sentences count, and it can win some back
    more = ["is it cold outside", "cold outside"]
    numbers, name = parsed(teach_report(assistant, "set alarm", more, [], held_out=HELD_OUT))
    assert name == "set alarm" and numbers == direct(assistant, "set alarm", more)
    assert numbers[6] == "1"                                         # "is it cold outside": wrong before, right now
    with pytest.raises(ValueError, match="held_out"):
        teach_report(assistant, NEW, EXAMPLES, [TEST], held_out=(["one text"], ["weather", "weather"]))


def test_the_widget_shows_the_old_intents_cost(assistant):
    expected = direct(assistant, NEW, EXAMPLES)
    box = teach_intent(assistant, held_out=HELD_OUT)
    out = find(box, "teach-intent-output")
    find(box, "teach-intent-name").value = NEW
    find(box, "teach-intent-examples").value = "\n".join(EXAMPLES)
    find(box, "teach-intent-teach").click()
    old = re.search(r'<p class="teach-intent-old">(.*?)</p>', out.value)
    assert old, out.value
    numbers, name = parsed(html.unescape(old.group(1).replace("<br>", "\n")))
    assert numbers == expected and name == NEW
    plain = teach_intent(assistant)                                 # without held_out: no such paragraph
    find(plain, "teach-intent-name").value = "another"
    find(plain, "teach-intent-examples").value = "another example"
    find(plain, "teach-intent-teach").click()
    assert "teach-intent-old" not in find(plain, "teach-intent-output").value


def test_the_widget_recomputes_the_held_out_predictions_only_when_the_assistant_changed():
    calls, counting = [], [True]

    def counting_embed(texts):
        if counting[0]:
            calls.append(list(texts))
        return fake_embed(texts)

    a = Assistant(counting_embed)
    for intent, examples in KNOWN.items():
        a.teach(intent, examples)
    box = teach_intent(a, held_out=HELD_OUT)
    out = find(box, "teach-intent-output")
    held = lambda: sum(c == HELD_OUT[0] for c in calls)

    def teach(intent, examples):
        find(box, "teach-intent-name").value = intent
        find(box, "teach-intent-examples").value = "\n".join(examples)
        counting[0] = False                              # the direct computation's calls are not the box's
        expected = direct(a, intent, examples)
        counting[0] = True
        find(box, "teach-intent-teach").click()
        numbers, _ = parsed(html.unescape(re.search(r'"teach-intent-old">(.*?)</p>', out.value).group(1).replace("<br>", "\n")))
        assert numbers == expected

    teach(NEW, EXAMPLES)
    assert held() == 2                                   # before and after
    teach("tell a joke", ["tell me a joke"])
    assert held() == 3                                   # nothing changed in between: "before" is the last "after"
    a.teach("weather", ["will it rain on the garden plants"])   # the assistant changed outside the box
    teach("read the news", ["read me the news"])
    assert held() == 5                                   # so "before" is computed again, and right
