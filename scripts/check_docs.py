#!/usr/bin/env python3
"""Check the documentation: every relative link resolves, every `make` target named exists.

Scans README.md, docs/**/*.md and bench/README.md (standard library only, Python 3.11+):

- a relative link or image target, ``[text](path)`` or ``![alt](path)`` (also reference
  definitions ``[id]: path`` and HTML ``href``/``src``), outside code, must name a file or
  directory that exists relative to the linking file (any ``#anchor`` or ``?query`` is dropped);
  targets starting with ``http://``, ``https://``, ``mailto:`` or ``#`` are not checked;
- every ``make <target>`` written in inline code or in a code block must name a target the
  Makefile defines (a line ``name:`` at the start of a line).

    python3 scripts/check_docs.py              # exit 1, listing each problem
    python3 scripts/check_docs.py --self-test  # plants a broken link and an unknown target
"""

import argparse
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]

EXTERNAL = ("http://", "https://", "mailto:", "#")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# An inline link or image: [text](target "title") / ![alt](<target>). Text may hold brackets
# one level deep ([`make up`](...)).
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_TARGET = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
SEPARATORS = ";&|()<>"
OPTIONS_WITH_VALUE = {"-C", "-f", "-I", "-o", "-W", "--directory", "--file", "--makefile"}
MAKEFILE_TARGET = re.compile(r"^([a-zA-Z0-9_-]+):(?!=)")
TARGET_WORD = re.compile(r"^[a-zA-Z0-9_-]+$")


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def show(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}: {self.message}"


def documents(root: Path) -> list[Path]:
    found = [root / "README.md", *sorted((root / "docs").glob("**/*.md")), root / "bench/README.md"]
    return [path for path in found if path.is_file()]


def makefile_targets(makefile: Path) -> set[str]:
    lines = makefile.read_text(encoding="utf-8").splitlines()
    return {m.group(1) for line in lines if (m := MAKEFILE_TARGET.match(line))}


def code_spans(line: str) -> tuple[list[str], str]:
    """The inline code spans of a line, and the line with each span blanked out."""
    spans, prose, i = [], [], 0
    while i < len(line):
        if line[i] != "`":
            prose.append(line[i])
            i += 1
            continue
        run = len(line[i:]) - len(line[i:].lstrip("`"))
        close = line.find("`" * run, i + run)
        # A closing run must be exactly as long as the opening one.
        while close != -1 and line[close + run : close + run + 1] == "`":
            close = line.find("`" * run, close + run + 1)
        if close == -1:  # no closing run: the backticks are literal
            prose.append(line[i : i + run])
            i += run
            continue
        spans.append(line[i + run : close])
        prose.append(" " * (close + run - i))
        i = close + run
    return spans, "".join(prose)


def scan(text: str) -> Iterator[tuple[int, str, str]]:
    """(line number, kind, content) for each line: kind "code" for a code block's line;
    otherwise one "span" per inline code span and one "prose" for the rest of the line."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        opening = FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            else:
                yield number, "code", line
            continue
        if opening:
            fence = opening.group(1)
            continue
        if line.startswith(("    ", "\t")) and line.strip():
            # An indented line: inside a list item it is prose, so it is checked as both.
            yield number, "code", line
        spans, prose = code_spans(line)
        for span in spans:
            yield number, "span", span
        yield number, "prose", prose


def link_targets(prose: str) -> Iterator[str]:
    for inline in INLINE_LINK.finditer(prose):
        yield inline.group(1)
    if definition := REFERENCE_DEFINITION.match(prose):
        yield definition.group(1)
    for html in HTML_TARGET.finditer(prose):
        yield html.group(1)


def broken_link(document: Path, target: str, root: Path) -> str | None:
    target = target.strip().removeprefix("<").removesuffix(">")
    if not target or target.startswith(EXTERNAL):
        return None
    path = unquote(re.split(r"[#?]", target, maxsplit=1)[0])
    if not path:
        return None
    resolved = (root / path.lstrip("/")) if path.startswith("/") else (document.parent / path)
    if resolved.exists():
        return None
    shown = resolved.relative_to(root) if resolved.is_relative_to(root) else resolved
    return f"broken link: {target} (no {shown})"


def words_of(code: str) -> list[str]:
    """Shell words, with separators as words of their own and comments dropped."""
    lexer = shlex.shlex(code, posix=True, punctuation_chars=SEPARATORS)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # an unclosed quote (an apostrophe in prose): split plainly instead
        code = re.sub(r"(?:^|\s)#.*", "", code)
        return re.findall(rf"[{re.escape(SEPARATORS)}]+|[^\s{re.escape(SEPARATORS)}]+", code)


def make_targets_named(code: str) -> Iterator[str]:
    """The target of each `make` command in a piece of code: the first word after `make` that
    is neither an option nor VAR=value (further words may be prose, in a code block's notes)."""
    words = words_of(code)
    for i, word in enumerate(words):
        if word != "make":
            continue
        following = iter(words[i + 1 :])
        for candidate in following:
            if candidate in OPTIONS_WITH_VALUE:
                next(following, None)
            elif candidate.startswith("-") or "=" in candidate:
                continue
            elif TARGET_WORD.match(candidate):
                yield candidate
                break
            else:
                break


def check(root: Path) -> list[Problem]:
    makefile = root / "Makefile"
    targets = makefile_targets(makefile) if makefile.is_file() else set()
    problems = []
    for document in documents(root):
        for number, kind, content in scan(document.read_text(encoding="utf-8")):
            if kind == "prose":
                for target in link_targets(content):
                    if message := broken_link(document, target, root):
                        problems.append(Problem(document, number, message))
            else:
                for target in make_targets_named(content):
                    if target not in targets:
                        message = f"unknown make target: make {target} (not in the Makefile)"
                        problems.append(Problem(document, number, message))
    return problems


def report(root: Path) -> int:
    problems = check(root)
    for problem in problems:
        print(problem.show(root), file=sys.stderr)
    if problems:
        print(f"check_docs: {len(problems)} problem(s) in the documentation", file=sys.stderr)
        return 1
    print(f"check_docs: {len(documents(root))} documents, every link and make target resolves")
    return 0


def self_test() -> int:
    """Plant one broken link, one broken image and one unknown target beside correct ones; the
    check must report exactly the planted ones."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        (root / "docs/deploy").mkdir(parents=True)
        (root / "bench").mkdir()
        (root / "Makefile").write_text(
            ".PHONY: up\nup: config ## start\n\t@true\ntest:\n\t@true\nconfig:\n\t@true\n"
            "VAR := value\n"
        )
        (root / "README.md").write_text(
            "# Planted\n\n"
            'Run `make up`, then `make test ARGS="-k ready"`; see [ops](docs/ops.md#logs).\n'
            "A [missing page](docs/missing.md#anchor) and ![a missing image](img/none.png).\n"
            "An [external](https://example.com/x) and an [anchor](#planted) are not checked.\n"
            "\n```sh\nmake up && make nosuch-target   # make comment words are skipped\n```\n"
            "Prose naming make nowhere-in-code is not checked.\n"
        )
        (root / "docs/ops.md").write_text("# Ops\n\nBack to the [README](../README.md).\n")
        (root / "docs/deploy/compose.md").write_text(
            "[Up two](../../bench/README.md) and [up one](../ops.md).\n"
        )
        (root / "bench/README.md").write_text("`make config` then [the root](../README.md).\n")

        found = {problem.show(root) for problem in check(root)}
        expected = {
            "README.md:4: broken link: docs/missing.md#anchor (no docs/missing.md)",
            "README.md:4: broken link: img/none.png (no img/none.png)",
            "README.md:8: unknown make target: make nosuch-target (not in the Makefile)",
        }
        if found != expected:
            print("check_docs --self-test: FAILED", file=sys.stderr)
            for line in sorted(expected - found):
                print(f"  not reported: {line}", file=sys.stderr)
            for line in sorted(found - expected):
                print(f"  reported but not planted: {line}", file=sys.stderr)
            return 1
    print("check_docs --self-test: the planted broken link, image and make target are reported")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--self-test", action="store_true", help="prove the check can fail")
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree to check")
    args = parser.parse_args()
    return self_test() if args.self_test else report(args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
