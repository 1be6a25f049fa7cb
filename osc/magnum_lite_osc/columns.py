"""How nested values (a driver's config, an upgrade plan's batches) appear in each format:
JSON text in tables and `-f value`, the structure itself in `-f json` and `-f yaml`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import json
from typing import Any

from cliff import columns


class JSONColumn(columns.FormattableColumn[Any]):
    """A dict or list shown as compact, key-sorted JSON to people, as itself to machines."""

    def human_readable(self) -> str:
        return json.dumps(self._value, sort_keys=True)

    def machine_readable(self) -> Any:
        return self._value


def cell(value: Any) -> Any:
    """`value` ready for a formatter: nested values wrapped, scalars as they are."""
    return JSONColumn(value) if isinstance(value, dict | list) else value


def show(document: dict[str, Any], hidden: Iterable[str] = ("links",)
         ) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """A ShowOne's (columns, values) of an API document: every field, sorted by name."""
    names = tuple(sorted(name for name in document if name not in set(hidden)))
    return names, tuple(cell(document[name]) for name in names)


def rows(items: Iterable[dict[str, Any]], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """A Lister's rows: the `names` fields of each item (None when absent)."""
    return [tuple(cell(item.get(name)) for name in names) for item in items]
