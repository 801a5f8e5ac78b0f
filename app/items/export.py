"""Items offered as a CSV export (app/exports): every item, oldest first. Prices are decimal
strings with two places, times RFC 3339, as in the API."""

from sqlalchemy import select

from app.exports.registry import CsvExport, register
from app.items.models import PRICE_PLACES, Item

ITEM_EXPORT = register(
    CsvExport(
        kind="items",
        header=("id", "name", "description", "price", "created_at", "updated_at"),
        query=lambda: select(Item).order_by(Item.created_at, Item.id),
        fields=lambda item: (
            str(item.id),
            item.name,
            item.description or "",
            f"{item.price:.{PRICE_PLACES}f}",
            item.created_at.isoformat(),
            item.updated_at.isoformat(),
        ),
    )
)
