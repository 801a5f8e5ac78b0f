"""What can be exported, by kind. Exports are an add-on: a resource opts in with an entry here
(and nothing in the resource imports exports). Each CSV is RFC 4180, with a header row."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from app.items.models import PRICE_PLACES, Item


@dataclass(frozen=True)
class CsvExport:
    kind: str
    header: tuple[str, ...]
    # Every row to export, in a stable order.
    query: Callable[[], Select[Any]]
    # One row as the CSV's fields, in the header's order.
    fields: Callable[[Any], Sequence[str]]


def item_fields(item: Item) -> Sequence[str]:
    """Prices as decimal strings with two places, times RFC 3339, as in the API."""
    return (
        str(item.id),
        item.name,
        item.description or "",
        f"{item.price:.{PRICE_PLACES}f}",
        item.created_at.isoformat(),
        item.updated_at.isoformat(),
    )


def by_kind(*exports: CsvExport) -> dict[str, CsvExport]:
    """The registry, by kind (typed even when empty: `make remove-resource` may empty it)."""
    return {export.kind: export for export in exports}


EXPORTS = by_kind(
    CsvExport(
        kind="items",
        header=("id", "name", "description", "price", "created_at", "updated_at"),
        query=lambda: select(Item).order_by(Item.created_at, Item.id),
        fields=item_fields,
    ),
)
