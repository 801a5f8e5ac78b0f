#!/usr/bin/env python3
"""`make resource` and `make remove-resource`: add a resource copied from the example, or remove
one, with every place the project names it. Standard library only (runs on the host's Python).

    scripts/resource.py add orders                      # singular derived: order
    scripts/resource.py add person --plural people      # or both given
    scripts/resource.py remove items

The example (app/items and tests/unit/items) is the template: its names are replaced, plural
before singular, in each case (items/Items/ITEMS, then item/Item/ITEM). Beside the package and
its tests, a resource is named in app/main.py (its router), migrations/env.py (its models),
pyproject.toml (its place in the import layers), and, through its own settings, in
.env.example and compose.yml: lines that name the template's settings are copied (or, on
removal, deleted) there too. Exports are an add-on a new resource does not get (the template's
test_export.py is left out); removing a resource also removes its entry from
app/exports/registry.py. The Makefile then formats the code, regenerates docs/configuration.md
from the settings classes, and autogenerates the migration.
"""

import argparse
import ast
import keyword
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ("item", "items")
RESERVED = {
    "app", "core", "kit", "health", "main", "api", "docs", "test", "tests", "migrations",
    "scripts", "worker", "workers", "metrics", "observability", "serving", "resources",
    "exports", "server", "jobs",
}  # fmt: skip
MAIN = ROOT / "app" / "main.py"
ALEMBIC_ENV = ROOT / "migrations" / "env.py"
PYPROJECT = ROOT / "pyproject.toml"
EXPORTS_REGISTRY = ROOT / "app" / "exports" / "registry.py"
SETTINGS_FILES = [ROOT / ".env.example", ROOT / "compose.yml"]
# The comment on (or above) the line after which app/main.py includes a new router.
ROUTERS_MARKER = "# `make resource` adds its router below this line"
MODELS_MARKER = "# (`make resource` adds a line here)."
# The template's files a new resource does not get: exports are an add-on (app/exports).
NOT_COPIED = ("__pycache__", "test_export.py")


class Refused(Exception):
    """Nothing was changed; the message says why."""


def plural_of(singular: str) -> str:
    if singular.endswith("y") and singular[-2:-1] not in "aeiou":
        return singular[:-1] + "ies"
    if singular.endswith(("s", "x", "z", "ch", "sh")):
        return singular + "es"
    return singular + "s"


def singular_of(plural: str) -> str:
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    if plural.endswith(("ses", "xes", "zes", "ches", "shes")):
        return plural[:-2]
    return plural.removesuffix("s")


def names(name: str, plural: str | None) -> tuple[str, str]:
    """(singular, plural) from what was given: a plural name, a singular one, or both."""
    if plural:
        return name, plural
    if name.endswith("s") and singular_of(name) != name:
        return singular_of(name), name
    return name, plural_of(name)


def check_name(word: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", word) or word.endswith("_"):
        raise Refused(f"{word!r} is not a lower-case Python identifier (letters, digits, _).")
    if keyword.iskeyword(word) or keyword.issoftkeyword(word) or word in RESERVED:
        raise Refused(f"{word!r} is reserved: pick another name.")


TEMPLATE_WORDS = re.compile(r"ITEMS|Items|items|ITEM|Item|item")  # plural first
# "an item" in prose: the article follows the new name ("a book", "an order").
ARTICLE = re.compile(r"\b(an|An) (?=[iI]tem)")
# Spelled like the template but not its name, so never renamed: a page's rows
# (app.kit.pagination.Page.items: ``items=[...]``, ``page.items``) and dict.items(). A dotted
# module path (app.items.models, tests.unit.items.conftest) is renamed.
NOT_THE_TEMPLATE = re.compile(r"\bitems=|(?<!\bapp)(?<!\bunit)\.items\b(?!\.)")


def rename(text: str, singular: str, plural: str) -> str:
    words = {
        "items": plural, "Items": plural.title().replace("_", ""), "ITEMS": plural.upper(),
        "item": singular, "Item": singular.title().replace("_", ""), "ITEM": singular.upper(),
    }  # fmt: skip
    if singular[0] not in "aeiou":
        text = ARTICLE.sub(lambda match: match.group(1)[0] + " ", text)
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group())
        return f"\0{len(kept) - 1}\0"

    text = NOT_THE_TEMPLATE.sub(keep, text)
    text = TEMPLATE_WORDS.sub(lambda match: words[match.group()], text)
    return re.sub(r"\0(\d+)\0", lambda match: kept[int(match.group(1))], text)


def package_dirs(plural: str) -> list[Path]:
    return [ROOT / "app" / plural, ROOT / "tests" / "unit" / plural]


def template_settings() -> list[str]:
    """The environment names of the template's own settings (its config.py)."""
    config = (ROOT / "app" / TEMPLATE[1] / "config.py").read_text()
    return [name.upper() for name in re.findall(r"^    ([a-z_]+):", config, re.MULTILINE)]


def resource_settings(plural: str) -> list[str]:
    config = ROOT / "app" / plural / "config.py"
    if not config.exists():
        return []
    return [name.upper() for name in re.findall(r"^    ([a-z_]+):", config.read_text(), re.M)]


def check_marker(path: Path, marker: str) -> None:
    if marker not in path.read_text():
        raise Refused(f"{path.relative_to(ROOT)} has lost its marker line: {marker}")


def insert_after(path: Path, marker: str, line: str) -> None:
    """``line`` below the line that holds ``marker`` (a line of its own, or a comment at the end
    of one)."""
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, text in enumerate(lines) if marker in text)
    lines.insert(at + 1, line + "\n")
    path.write_text("".join(lines))


def copy_settings_lines(path: Path, settings: list[str], singular: str, plural: str) -> None:
    """Each line naming one of the template's settings, copied below it with the new names;
    in .env.example, with the comment lines directly above it."""
    lines = path.read_text().splitlines(keepends=True)
    out: list[str] = []
    for index, line in enumerate(lines):
        out.append(line)
        if names_setting(line, settings):
            above = comment_above(lines, index, TEMPLATE[0])
            out.extend(rename(text, singular, plural) for text in above)
            out.append(rename(line, singular, plural))
    path.write_text("".join(out))


def names_setting(line: str, settings: list[str]) -> bool:
    return any(re.search(rf"\b{name}\b", line) for name in settings)


def comment_above(lines: list[str], index: int, word: str) -> list[str]:
    """The comment lines directly above ``lines[index]`` (never a commented-out ``# NAME=``),
    when they name the resource (``word``, its singular): a comment about it alone."""
    start = index
    while (
        start > 0
        and lines[start - 1].startswith("#")
        and not re.match(r"^# ?[A-Z][A-Z0-9_]+=", lines[start - 1])
    ):
        start -= 1
    block = lines[start:index]
    return block if re.search(rf"\b{word}", "".join(block), re.IGNORECASE) else []


def import_layers(text: str, plural: str, *, add: bool) -> str:
    """pyproject.toml's import-linter contracts: the new resource where items stands (a layer
    beside it, a forbidden module beside it), or the removed one taken out of them."""
    head, marker, contracts = text.partition("[tool.importlinter]")
    if not marker:
        return text
    contracts, tail_marker, tail = contracts.partition("\n[tool.ruff")
    template, module = f"app.{TEMPLATE[1]}", f"app.{plural}"
    if add:
        contracts = re.sub(
            rf'^( *)"{re.escape(template)}",$', rf'\g<0>\n\1"{module}",', contracts, flags=re.M
        )
        contracts = contracts.replace(f'"{template}", ', f'"{template}", "{module}", ')
        contracts = contracts.replace(f"{template} | ", f"{template} | {module} | ")
    else:
        name = re.escape(module)
        contracts = re.sub(rf'^ *"{name}",\n', "", contracts, flags=re.M)
        contracts = re.sub(rf'"{name}", ', "", contracts)
        contracts = re.sub(rf"{name} \| | \| {name}\b", "", contracts)
    return head + marker + contracts + tail_marker + tail


def without_export(plural: str) -> str | None:
    """app/exports/registry.py without what it holds of this resource: its imports, what is
    defined from them, and its entry in EXPORTS; None when it names none of it."""
    if not EXPORTS_REGISTRY.exists():
        return None
    source = EXPORTS_REGISTRY.read_text()
    tree = ast.parse(source)
    names, doomed = resource_imports(tree, f"app.{plural}")
    if not doomed:
        return None
    doomed += derived_definitions(tree, names)
    doomed += export_entries(tree, names, plural)
    return without_lines(source, doomed, plural)


Removed = ast.stmt | ast.expr


def resource_imports(tree: ast.Module, package: str) -> tuple[set[str], list[Removed]]:
    """The names the registry imports from the resource, and those imports."""
    names: set[str] = set()
    doomed: list[Removed] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (
            node.module == package or (node.module or "").startswith(f"{package}.")
        ):
            names |= {alias.asname or alias.name for alias in node.names}
            doomed.append(node)
        elif isinstance(node, ast.Import) and any(
            alias.name == package or alias.name.startswith(f"{package}.") for alias in node.names
        ):
            raise Refused(f"app/exports/registry.py imports {package} whole: edit it by hand.")
    return names, doomed


def uses(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def assigned(targets: Sequence[ast.expr]) -> list[str]:
    return [target.id for target in targets if isinstance(target, ast.Name)]


def derived_definitions(tree: ast.Module, names: set[str]) -> list[Removed]:
    """Top-level definitions (but EXPORTS) made from those names, or from one of these, in
    source order; their names join ``names``."""
    doomed: list[Removed] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Assign):
            targets = assigned(node.targets) if isinstance(node, ast.Assign) else [node.name]
            if "EXPORTS" not in targets and uses(node, names):
                names.update(targets)
                doomed.append(node)
    return doomed


def export_entries(tree: ast.Module, names: set[str], plural: str) -> list[Removed]:
    """The entries of EXPORTS that use the resource or are of its kind: the arguments of a call
    (by_kind(...)), the items of a list, tuple or set (or of the one a comprehension walks), or
    the pairs of a dict."""

    def is_entry(node: ast.AST) -> bool:
        kinds = [
            keyword.value.value
            for call in ast.walk(node)
            if isinstance(call, ast.Call)
            for keyword in call.keywords
            if keyword.arg == "kind" and isinstance(keyword.value, ast.Constant)
        ]
        return uses(node, names) or plural in kinds

    doomed: list[Removed] = []
    for node in tree.body:
        if isinstance(node, ast.AnnAssign):
            value, named = node.value, assigned([node.target])
        elif isinstance(node, ast.Assign):
            value, named = node.value, assigned(node.targets)
        else:
            continue
        if "EXPORTS" not in named or value is None:
            continue
        if isinstance(value, ast.DictComp | ast.ListComp | ast.SetComp | ast.GeneratorExp):
            value = value.generators[0].iter
        if isinstance(value, ast.Call):
            doomed.extend(argument for argument in value.args if is_entry(argument))
        elif isinstance(value, ast.List | ast.Tuple | ast.Set):
            doomed.extend(element for element in value.elts if is_entry(element))
        elif isinstance(value, ast.Dict):
            for key, item in zip(value.keys, value.values, strict=True):
                kind = isinstance(key, ast.Constant) and key.value == plural
                if key is not None and (kind or is_entry(item)):
                    entry = ast.copy_location(ast.Tuple(elts=[key, item], ctx=ast.Load()), key)
                    entry.end_lineno = item.end_lineno
                    doomed.append(entry)
    return doomed


def without_lines(source: str, doomed: list[Removed], plural: str) -> str:
    """The source without the lines of each node; an entry of EXPORTS must have its lines to
    itself (else this refuses, and the registry is left for a hand edit)."""
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in doomed:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        last = node.end_lineno or node.lineno
        if isinstance(node, ast.expr):
            rest = "".join(lines[first - 1 : last])
            rest = rest[node.col_offset :] if first == node.lineno else rest
            whole = (
                ast.get_source_segment(source, node) if not isinstance(node, ast.Tuple) else None
            )
            if lines[first - 1][: node.col_offset].strip() or (
                whole is not None and rest.strip().rstrip(",") != whole
            ):
                raise Refused(
                    f"the {plural} entry of EXPORTS shares its lines in "
                    "app/exports/registry.py: remove it by hand first."
                )
        drop.update(range(first, last + 1))
    kept = "".join(line for number, line in enumerate(lines, 1) if number not in drop)
    # Blank lines left three deep where a definition was: ruff format tidies up the rest.
    return re.sub(r"\n{4,}", "\n\n\n", kept)


def add_import(path: Path, line: str) -> None:
    """After the last `from app.` import: ruff's isort would put it among them anyway."""
    lines = path.read_text().splitlines(keepends=True)
    last = max(i for i, text in enumerate(lines) if text.startswith(("from app.", "import app.")))
    lines.insert(last + 1, line + "\n")
    path.write_text("".join(lines))


def add(singular: str, plural: str) -> None:
    for word in (singular, plural):
        check_name(word)
    if singular == plural:
        raise Refused("give different singular and plural names (--plural).")
    taken = [p for p in package_dirs(plural) + package_dirs(singular) if p.exists()]
    if taken:
        raise Refused(f"{taken[0].relative_to(ROOT)} exists already.")
    templates = package_dirs(TEMPLATE[1])
    if not all(p.is_dir() for p in templates):
        raise Refused(
            "the template app/items (and tests/unit/items) is gone; bring it back from git "
            "(git checkout <commit> -- app/items tests/unit/items) to generate from it."
        )
    check_marker(MAIN, ROUTERS_MARKER)
    check_marker(ALEMBIC_ENV, MODELS_MARKER)
    settings = template_settings()
    for source, target in zip(templates, package_dirs(plural), strict=True):
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(*NOT_COPIED))
        for path in sorted(target.rglob("*.py")):
            path.write_text(rename(path.read_text(), singular, plural))
            if TEMPLATE_WORDS.search(path.name):
                path.rename(path.with_name(rename(path.name, singular, plural)))
    add_import(MAIN, f"from app.{plural}.router import router as {plural}_router")
    insert_after(MAIN, ROUTERS_MARKER, f"    app.include_router({plural}_router)")
    insert_after(ALEMBIC_ENV, MODELS_MARKER, f"import app.{plural}.models  # noqa: F401")
    for path in SETTINGS_FILES:
        copy_settings_lines(path, settings, singular, plural)
    PYPROJECT.write_text(import_layers(PYPROJECT.read_text(), plural, add=True))
    print(f"added app/{plural}/ and tests/unit/{plural}/ (from the items example, without its "
          f"export), its router in app/main.py, its models in migrations/env.py, its import "
          f"layer in pyproject.toml, its settings in .env.example and compose.yml")  # fmt: skip


def remove(plural: str) -> None:
    check_name(plural)
    package = ROOT / "app" / plural
    if not package.is_dir():
        raise Refused(f"app/{plural} does not exist.")
    settings = resource_settings(plural)
    registry = without_export(plural)  # first: it may refuse, before anything has changed
    main = MAIN.read_text()
    main = re.sub(rf"^from app\.{plural}\.router import .*\n", "", main, flags=re.M)

    def router_line(match: re.Match[str]) -> str:
        # The marker the line may carry stays, on a line of its own.
        return f"{match.group(1)}{ROUTERS_MARKER}\n" if ROUTERS_MARKER in match.group() else ""

    include = rf"^( +)app\.include_router\({plural}_router\b.*\n"
    main = re.sub(include, router_line, main, flags=re.M)
    MAIN.write_text(main)
    env = re.sub(rf"^import app\.{plural}\.models.*\n", "", ALEMBIC_ENV.read_text(), flags=re.M)
    # Every model import is there for its side effect (its tables), whichever one is left.
    env = re.sub(r"^(import app\.\w+\.models)$", r"\1  # noqa: F401", env, flags=re.M)
    ALEMBIC_ENV.write_text(env)
    for path in SETTINGS_FILES:
        lines = path.read_text().splitlines(keepends=True)
        drop = {i for i, line in enumerate(lines) if names_setting(line, settings)}
        for index in sorted(drop):
            above = comment_above(lines, index, singular_of(plural))
            drop.update(range(index - len(above), index))
        path.write_text("".join(line for i, line in enumerate(lines) if i not in drop))
    if registry is not None:
        EXPORTS_REGISTRY.write_text(registry)
    PYPROJECT.write_text(import_layers(PYPROJECT.read_text(), plural, add=False))
    for directory in package_dirs(plural):
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"removed app/{plural}/, tests/unit/{plural}/ and every line that named them"
        + (", and its export from app/exports/registry.py" if registry is not None else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["add", "remove"])
    parser.add_argument("name", help="the resource's name: plural (orders) or singular (order)")
    parser.add_argument("--plural", help="the plural, where it is not the name plus s")
    args = parser.parse_args()
    try:
        if args.action == "add":
            add(*names(args.name, args.plural))
        else:
            remove(args.name)
    except Refused as refusal:
        print(f"{parser.prog}: {refusal} Nothing was changed.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
