#!/usr/bin/env python3
"""`make rename name=acme-orders`: rename the project everywhere it is named (the image, the
Compose project, the package metadata and lock, the database's application_name, the OCI
labels, the docs). Idempotent: the current name is read from pyproject.toml, and renaming to
it again changes nothing. Standard library only (runs on the host's Python).

Your .env keeps its COMPOSE_PROJECT_NAME, so the dev database volume stays yours; only its
APP_IMAGE follows the new name.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VALID = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def current_name() -> str:
    match = re.search(r'^name = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    if match is None:
        raise SystemExit("rename: pyproject.toml names no project")
    return match.group(1)


def project_files() -> list[Path]:
    """Every file git tracks or would track (untracked but not ignored), as text."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode()  # fmt: skip
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def main() -> int:
    if len(sys.argv) != 2 or not VALID.fullmatch(sys.argv[1]):
        print(
            "usage: make rename name=acme-orders (lower case, digits and hyphens)", file=sys.stderr
        )
        return 2
    new, old = sys.argv[1], current_name()
    if new == old:
        print(f"the project is named {new} already; nothing to do")
        return 0
    changed = []
    for path in project_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # not text
        if old in text:
            path.write_text(text.replace(old, new))
            changed.append(path.relative_to(ROOT))
    env = ROOT / ".env"
    if env.exists():
        text = env.read_text()
        env.write_text(
            re.sub(rf"^APP_IMAGE={re.escape(old)}:", f"APP_IMAGE={new}:", text, flags=re.M)
        )
    print(f"renamed {old} to {new} in {len(changed)} files:")
    for path in changed:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
