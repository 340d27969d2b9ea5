"""``python -m metanlp_lite.fewshot ...``: see :func:`metanlp_lite.fewshot.cli.main`."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
