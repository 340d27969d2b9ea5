"""``python -m metanlp_lite.labs execute``: how the committed notebooks are made. A progress bar
leaves one line in the stored outputs (its final state), not one output per update."""
from __future__ import annotations

import nbformat

from metanlp_lite.labs import execute


def test_execute_stores_each_progress_bar_once(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import time\nfrom metanlp_lite.progress import progress\n"
        "for _ in progress(range(4), desc='work', mininterval=0):\n    time.sleep(0.3)\nprint('done')")]
    path = tmp_path / "bar.ipynb"
    nbformat.write(nb, path)
    execute(path)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [(o.output_type, o.name) for o in outputs] == [("stream", "stderr"), ("stream", "stdout")], outputs
    bar = outputs[0].text
    assert "\r" not in bar and bar.count("\n") == 1 and bar.startswith("work: 100%|") and "4/4" in bar, repr(bar)
    assert outputs[1].text == "done\n"
