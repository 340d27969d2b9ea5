"""Notebook 07's "teach it" tools (``widgets.teach_report`` and ``widgets.teach_intent``) on an
:class:`~metanlp_lite.continual.Assistant` with a fake embedding (hashed bags of words), so no
encoder is needed."""
from __future__ import annotations

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
