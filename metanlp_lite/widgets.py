"""Interactive controls (ipywidgets) for the notebooks.

Each function builds and returns a widget; nothing is displayed at import time. The
computing they call lives elsewhere in the package; here is only the wiring. Notebook 07's
:func:`teach_intent` has a static twin, :func:`teach_report` (plain text, for stored outputs).
"""
from __future__ import annotations

import copy
import html
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .data import pretty_label
from .episodes import EpisodeSampler

if TYPE_CHECKING:
    from .continual import Assistant, Prediction

__all__ = ["format_episode", "episode_explorer", "figure_png", "live_figure", "teach_report", "teach_intent",
           "old_intents_summary"]


def format_episode(support: Sequence[str], support_y: Sequence[int], query: Sequence[str],
                   query_y: Sequence[int], class_names: Sequence[str], max_query: int = 2) -> str:
    """An episode as an HTML table: one row per class with its support texts and a few queries.

    support, query: the texts of one task; support_y, query_y: their labels 0..N-1;
    class_names[j]: the intent behind label j.
    """
    rows = []
    for j, name in enumerate(class_names):
        s = [html.escape(t) for t, y in zip(support, support_y) if y == j]
        q = [html.escape(t) for t, y in zip(query, query_y) if y == j][:max_query]
        rows.append(f"<tr><td><b>{j}</b></td><td><code>{html.escape(name)}</code></td>"
                    f"<td>{'<br>'.join(s)}</td><td><i>{'<br>'.join(q)}</i></td></tr>")
    head = ("<tr><th>label</th><th>intent (hidden from the learner)</th><th>support (labelled)</th>"
            "<th>query (to classify)</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def episode_explorer(texts: Sequence[str], labels: Sequence[int], class_names: Sequence[str],
                     classes: Sequence[int] | None = None, n_way: int = 5, k_shot: int = 1,
                     n_query: int = 2, seed: int = 0):
    """Sliders for N and K and a "resample" button over a pool of labelled texts.

    texts, labels: the pool (P,); class_names: indexed by label id; classes: the label ids
    episodes may use (e.g. the meta-test classes). Impossible settings show the sampler's
    error message instead of an episode.
    """
    import ipywidgets as w

    n_max = len(classes) if classes is not None else len(set(labels))
    n = w.IntSlider(value=n_way, min=2, max=min(10, n_max), description="N-way")
    k = w.IntSlider(value=k_shot, min=1, max=10, description="K-shot")
    button = w.Button(description="resample", icon="refresh")
    out = w.HTML()
    state = {"seed": seed}

    def draw(*_):
        try:
            sampler = EpisodeSampler(labels, n.value, k.value, n_query, classes=classes,
                                     seed=state["seed"], class_names=class_names)
        except ValueError as err:
            out.value = f"<pre>{html.escape(str(err))}</pre>"
            return
        idx, cls = sampler.sample_indices(1)
        names = [pretty_label(class_names[c]) for c in cls[0].tolist()]
        out.value = format_episode([texts[i] for i in idx.support_x[0].tolist()], idx.support_y[0].tolist(),
                                   [texts[i] for i in idx.query_x[0].tolist()], idx.query_y[0].tolist(), names)

    def resample(_):
        state["seed"] += 1
        draw()

    n.observe(draw, "value")
    k.observe(draw, "value")
    button.on_click(resample)
    draw()
    return w.VBox([w.HBox([n, k, button]), out])


# ---------------------------------------------------------------------------------------
# A figure redrawn by controls (notebook 03): PNG bytes in an Image widget
# ---------------------------------------------------------------------------------------
def figure_png(fig, dpi: int | None = None) -> bytes:
    """The PNG bytes of a matplotlib figure, which is then closed (so it is not shown twice)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def live_figure(draw, controls: dict, columns: int = 3, dpi: int | None = None):
    """A figure that is redrawn whenever one of ``controls`` changes.

    draw: a function called as ``draw(**{name: control.value})`` that returns a matplotlib
    figure; controls: {keyword: widget} (sliders, dropdowns, ...), laid out ``columns`` per row
    in the given order, above the figure. The figure is an ``ipywidgets.Image`` holding PNG
    bytes (matplotlib's inline output inside ``interactive`` does not survive nbval or a
    reload). If ``draw`` raises ValueError, its message is shown instead of the figure.

    Returns a ``VBox`` whose image is still empty: display the box, then call its
    ``redraw()`` (the box's text form, compared by nbval, then does not hold image bytes).
    """
    import ipywidgets as w

    if not controls:
        raise ValueError("live_figure needs at least one control, e.g. {'lr': FloatSlider(...)}")
    image = w.Image(format="png")
    message = w.HTML()
    items = list(controls.values())
    rows = [w.HBox(items[i:i + columns]) for i in range(0, len(items), columns)]
    box = w.VBox([*rows, message, image])

    def redraw(*_):
        try:
            fig = draw(**{name: c.value for name, c in controls.items()})
        except ValueError as err:
            message.value = f"<pre>{html.escape(str(err))}</pre>"
            return
        message.value = ""
        image.value = figure_png(fig, dpi)

    for c in items:
        c.observe(redraw, names="value")
    box.redraw = redraw
    return box


# ---------------------------------------------------------------------------------------
# Teaching an assistant a new intent (notebook 07): a static report and a live widget
# ---------------------------------------------------------------------------------------
def _cosine(x: float) -> str:
    """A cosine to 2 decimals, never ``-0.00`` (the sign of a rounded zero differs across CPUs)."""
    return f"{round(x, 2) + 0.0:.2f}"


def _lines(text: str) -> list[str]:
    """The non-empty lines of a text box, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


HeldOut = tuple[Sequence[str], Sequence[str]]     # (texts, their intents' names), M each


def _held_out_pairs(held_out: HeldOut) -> tuple[list[str], list[str]]:
    """The held-out (texts, intents) as two lists of M (blank texts dropped; the others as they are, so that an
    embedding cache keyed by text finds them); ValueError if they do not pair up."""
    try:
        texts, intents = held_out
    except (TypeError, ValueError):
        raise ValueError("held_out is a pair (texts, their intents' names), two lists of the same length") from None
    if isinstance(texts, str) or isinstance(intents, str):
        raise ValueError("held_out is a pair (texts, their intents' names) of two lists, not of strings")
    if len(texts) != len(intents):
        raise ValueError(f"held_out pairs {len(texts)} texts with {len(intents)} intent names: give one name per text")
    pairs = [(t, y.strip()) for t, y in zip(texts, intents) if t.strip()]
    return [t for t, _ in pairs], [y for _, y in pairs]


def old_intents_summary(intents: Sequence[str], before: Sequence[str], after: Sequence[str],
                        known: Sequence[str], name: str) -> str:
    """What teaching ``name`` cost the intents ``known`` before it, in two lines of text.

    intents: (M,) the held-out sentences' true intents; before, after: (M,) the intents predicted
    for them before and after teaching. Only the sentences of an intent in ``known`` count (old
    intents): their accuracy before -> after (percent, 1 decimal), how many are newly predicted as
    ``name``, how many right answers turned wrong and wrong ones right.
    """
    old = set(known)
    rows = [(y, b, a) for y, b, a in zip(intents, before, after) if y in old]
    if not rows:
        return f"Old intents: none of the {len(intents):,} held-out sentences is of an intent known before teaching."
    n = len(rows)
    right_before, right_after = sum(y == b for y, b, _ in rows), sum(y == a for y, _, a in rows)
    taken = sum(a == name != b for _, b, a in rows)
    lost = sum(y == b != a for y, b, a in rows)
    gained = sum(y == a != b for y, b, a in rows)
    n_intents = len({y for y, _, _ in rows})
    return (f"Old intents: {100 * right_before / n:.1f}% → {100 * right_after / n:.1f}% right on {n:,} held-out "
            f"sentence{'s' * (n != 1)} of {n_intents} intent{'s' * (n_intents != 1)}:\n  {taken} newly predicted as "
            f"{name!r}, {lost} right before and wrong now, {gained} wrong before and right now.")


def _predicted(assistant: Assistant, texts: Sequence[str]) -> list[str]:
    """The intent ``assistant`` predicts for each of ``texts`` (M,); "" each if it knows no intent yet."""
    return [p.intent for p in assistant.predict(texts, 1)] if texts and assistant.intents else [""] * len(texts)


def teach_report(assistant: Assistant, intent: str, examples: Sequence[str], tests: Sequence[str],
                 k: int = 3, held_out: HeldOut | None = None) -> str:
    """What teaching ``intent`` from ``examples`` changes, as plain text (the same on every run).

    Works on a ``copy.deepcopy`` of ``assistant`` (the one passed in is not changed): for each
    test sentence, its prediction before and after teaching (intent, confidence in percent to 1
    decimal, the ``k`` nearest intents with their cosine to 2 decimals), then how many test
    sentences the new intent wins. No timings (stored notebook outputs must not change);
    :func:`teach_intent` shows them live. Bad input raises the assistant's ValueError.

    held_out: (texts, their intents' names), M each: with it, a last line says what teaching cost
    the intents known before (:func:`old_intents_summary`: their accuracy on those of the M
    sentences that are theirs, before -> after, predicted with ``assistant.predict``).
    """
    copied = copy.deepcopy(assistant)
    tests = [t.strip() for t in tests if t.strip()]
    before = copied.predict(tests, k) if tests and copied.intents else [None] * len(tests)
    known = len(copied.intents)
    if held_out is not None:
        held_texts, held_intents = _held_out_pairs(held_out)
        held_before, old_known = _predicted(copied, held_texts), list(copied.intents)
    copied.teach(intent, examples)
    name = intent.strip()
    after = copied.predict(tests, k) if tests else []
    cost = ([] if held_out is None else
            ["", old_intents_summary(held_intents, held_before, _predicted(copied, held_texts), old_known, name)])
    shown = [e.strip() for e in examples if e.strip()]
    what = "a new intent" if len(copied.intents) > known else "more examples of a known intent"
    named = "its name and " if what == "a new intent" and getattr(copied, "use_names", False) else ""
    lines = [f"Teaching {name!r} ({what}) from {named}{len(shown)} example{'s' * (len(shown) != 1)}, "
             f"on a copy of the assistant ({known} intents known before, {len(copied.intents)} after):"]
    lines += [f"  + {e}" for e in shown]
    if not tests:
        return "\n".join(lines + cost)
    preds = [p for p in before + after if p is not None]
    width = max([len("intent")] + [len(p.intent) for p in preds])
    near = max(len(n) for p in preds for n, _ in p.nearest)
    lines += ["", f"{'':12}{'intent':<{width}}  confidence   nearest intents (cosine)"]
    for text, old, new in zip(tests, before, after):
        lines.append(f"{text!r}")
        for when, p in (("before", old), ("after", new)):
            if p is None:
                lines.append(f"    {when:<8}(the assistant knew no intent yet)")
                continue
            nearest = "   ".join(f"{n:<{near}} {_cosine(c)}" for n, c in p.nearest)
            lines.append(f"    {when:<8}{p.intent:<{width}}  {p.confidence:8.1f} %   {nearest}".rstrip())
    wins = sum(p.intent == name for p in after)
    had = sum(p is not None and p.intent == name for p in before)
    lines += ["", f"{name!r} is now the prediction for {wins} of {len(tests)} test sentences (before: {had})."]
    return "\n".join(lines + cost)


_TABLE_STYLE = ("<style>.teach-intent-output th, .teach-intent-output td "
                "{padding: 2px 10px; text-align: left; border-bottom: 1px solid #ddd} .teach-intent-before, "
                ".teach-intent-prediction {white-space: nowrap}</style>")


def _predictions_html(tests: Sequence[str], after: Sequence[Prediction],
                      before: Sequence[Prediction | None] | None = None) -> str:
    """An HTML table of predictions, one row per test sentence (escaped); with ``before``, a
    "before → after" column pair. The cell of the current prediction has the class
    ``teach-intent-prediction`` (the browser test reads it)."""
    esc = html.escape

    def cell(p: Prediction | None, cls: str) -> str:
        if p is None:
            return f'<td class="{cls}"><i>(none)</i></td>'
        return f'<td class="{cls}"><code>{esc(p.intent)}</code> ({p.confidence:.1f}%)</td>'

    head = "<th>before</th><th></th><th>after</th>" if before is not None else "<th>prediction (confidence)</th>"
    rows = []
    for i, (text, p) in enumerate(zip(tests, after)):
        nearest = ", ".join(f"<code>{esc(n)}</code> {_cosine(c)}" for n, c in p.nearest)
        if before is not None:
            old = before[i]
            changed = old is None or old.intent != p.intent
            mid = f"<td>{'<b>→</b>' if changed else '→'}</td>"
            pred = cell(old, "teach-intent-before") + mid + cell(p, "teach-intent-prediction")
        else:
            pred = cell(p, "teach-intent-prediction")
        rows.append(f"<tr><td>{esc(text)}</td>{pred}<td>{nearest}</td></tr>")
    return (f"{_TABLE_STYLE}<table><tr><th>test sentence</th>{head}<th>nearest intents (cosine)</th></tr>"
            f"{''.join(rows)}</table>")


def _state(assistant: Assistant) -> tuple[tuple[str, ...], list]:
    """What ``assistant``'s predictions depend on: its intents and its learner's tensors (copies)."""
    from torch import Tensor

    return tuple(assistant.intents), [v.clone() for v in vars(assistant.learner).values() if isinstance(v, Tensor)]


def _same_state(a: tuple[tuple[str, ...], list], b: tuple[tuple[str, ...], list]) -> bool:
    """Whether two :func:`_state` are equal: the same intents, and equal tensors."""
    import torch

    return a[0] == b[0] and len(a[1]) == len(b[1]) and all(x.shape == y.shape and torch.equal(x, y)
                                                           for x, y in zip(a[1], b[1]))


def teach_intent(assistant: Assistant, k: int = 3, held_out: HeldOut | None = None):
    """A box to teach the *live* ``assistant`` a new intent and try it on sentences.

    An intent name, its examples (one per line, 1-3 recommended), "teach"; test sentences (one
    per line), "predict": a table of each sentence's prediction, confidence and ``k`` nearest
    intents. "teach" teaches ``assistant`` itself (the student changes it), then shows the test
    sentences' predictions before → after, and how long teaching took. Bad input shows the
    ValueError's message instead. Each control has a CSS class (``teach-intent-name``,
    ``-examples``, ``-teach``, ``-tests``, ``-predict``, ``-output``) for browser tests.

    held_out: (texts, their intents' names), M each: with it, "teach" also says what the new
    intent cost the intents known before, on their held-out sentences (a paragraph of class
    ``teach-intent-old``; :func:`old_intents_summary`). The held-out predictions of the last
    state the box saw are kept: they are recomputed only if the assistant changed in between.
    """
    import ipywidgets as w

    held = _held_out_pairs(held_out) if held_out is not None else None
    memo: dict = {}      # "state": the assistant's state (_state), "predicted": its held-out predictions (M,)

    def held_out_predictions() -> list[str]:
        state = _state(assistant)
        if not memo or not _same_state(memo["state"], state):
            memo.update(state=state, predicted=_predicted(assistant, held[0]))
        return memo["predicted"]

    wide, style = w.Layout(width="40em"), {"description_width": "8em"}
    name = w.Text(placeholder="book a table", description="intent", layout=wide, style=style)
    examples = w.Textarea(placeholder="one example sentence per line (1-3 recommended)\ncan you get us a table for "
                          "two tonight", description="examples", rows=3, layout=wide, style=style)
    teach = w.Button(description="teach", icon="graduation-cap", button_style="primary")
    tests = w.Textarea(placeholder="one test sentence per line\nreserve a table at 8", description="test sentences",
                       rows=3, layout=wide, style=style)
    predict = w.Button(description="predict", icon="question")
    out = w.HTML()
    for control, cls in ((name, "name"), (examples, "examples"), (teach, "teach"), (tests, "tests"),
                         (predict, "predict"), (out, "output")):
        control.add_class(f"teach-intent-{cls}")

    def show_error(err: ValueError) -> None:
        out.value = f'<pre class="teach-intent-error">{html.escape(str(err))}</pre>'

    def on_predict(_=None) -> None:
        try:
            sentences = _lines(tests.value)
            if not sentences:
                raise ValueError("type a test sentence (one per line), then press predict")
            out.value = _predictions_html(sentences, assistant.predict(sentences, k))
        except ValueError as err:
            show_error(err)

    def on_teach(_=None) -> None:
        try:
            intent, shown = name.value.strip(), _lines(examples.value)
            if not intent:
                raise ValueError("an intent needs a name, e.g. 'book a table'")
            if not shown:
                raise ValueError(f"give {intent!r} 1-3 example sentences, one per line")
            sentences = _lines(tests.value)
            before = assistant.predict(sentences, k) if sentences and assistant.intents else [None] * len(sentences)
            known = intent in assistant.intents
            old_known, held_before = list(assistant.intents), held_out_predictions() if held else None
            start = time.perf_counter()
            assistant.teach(intent, shown)
            ms = (time.perf_counter() - start) * 1000
        except ValueError as err:
            show_error(err)
            return
        note = "" if len(shown) <= 3 else f" ({len(shown)} examples: 1-3 are enough)"
        what = "more examples of" if known else "the new intent"
        message = (f"<p>Taught {what} <b>{html.escape(intent)}</b> from {len(shown)} example"
                   f"{'s' * (len(shown) != 1)} in {ms:.0f} ms{note}; the assistant knows "
                   f"{len(assistant.intents)} intents.</p>")
        if held:
            line = old_intents_summary(held[1], held_before, held_out_predictions(), old_known, intent)
            message += f'<p class="teach-intent-old">{html.escape(line).replace(chr(10), "<br>")}</p>'
        table = _predictions_html(sentences, assistant.predict(sentences, k), before) if sentences else ""
        out.value = message + table

    teach.on_click(on_teach)
    predict.on_click(on_predict)
    return w.VBox([name, w.HBox([examples, teach]), w.HBox([tests, predict]), out])
