"""Proves the import contracts (pyproject.toml, [tool.importlinter]) can fail: a copy of app/
with one planted core -> resource import (the health resource, which every checkout keeps)
must be refused by lint-imports.

    python tests/lint/check_layers.py     # exit 0 when the planted import is refused
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLANTED = "app/core/planted.py"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "app", copy / "app")
        shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
        (copy / PLANTED).write_text("from app.health import service\n\n__all__ = ['service']\n")
        result = subprocess.run(
            ["lint-imports", "--no-cache"],  # noqa: S607 - the dev image's own command
            cwd=copy,
            capture_output=True,
            text=True,
            check=False,
        )
    refused = result.returncode != 0 and "app.core.planted -> app.health.service" in result.stdout
    if not refused:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        print(f"lint-imports did not refuse the planted import in {PLANTED}", file=sys.stderr)
        return 1
    print(f"lint-imports refuses a planted core -> resource import ({PLANTED})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
