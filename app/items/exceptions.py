"""The problems only items answer with."""

from app.kit.problems import Conflict, NotFound


class ItemNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No item has this id.")


class ItemNameTaken(Conflict):
    def __init__(self, name: str | None) -> None:
        super().__init__(
            f"The name {name!r} is taken: an item's name, or one that looks like it (case, or"
            " a letter of another script that reads alike), is already in use."
        )
