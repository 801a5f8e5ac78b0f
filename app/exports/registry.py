"""What can be exported: each resource that offers an export registers one here, by kind."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select


@dataclass(frozen=True)
class CsvExport:
    kind: str
    header: tuple[str, ...]
    # Every row to export, in a stable order.
    query: Callable[[], Select[Any]]
    # One row as the CSV's fields, in the header's order.
    fields: Callable[[Any], Sequence[str]]


EXPORTS: dict[str, CsvExport] = {}


def register(export: CsvExport) -> CsvExport:
    EXPORTS[export.kind] = export
    return export
