"""Query helpers every resource's queries share: project scoping, filters, pages, lookups
by name and by uuid, new rows. One copy each, so that every resource scopes, pages and
answers a bad marker or sort key the same way.
"""

from collections.abc import Callable
from typing import Any

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import utils as db_utils
from oslo_utils import uuidutils
import sqlalchemy as sa

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.session import _single_read, _writer


def _filter_by_project(context: Any, query: Any, model: Any) -> Any:
    if context.is_admin and getattr(context, "all_projects", False):
        return query
    return query.filter(model.project_id == context.project_id)


def _apply_filters(query: Any, model: Any, filters: dict | None, allowed: tuple) -> Any:
    for key, value in (filters or {}).items():
        if key not in allowed:
            continue
        column = getattr(model, key)
        if isinstance(value, (list, tuple, set)):
            query = query.filter(column.in_(list(value)))
        else:
            query = query.filter(column == value)
    return query


def _sort_dir(sort_dir: str | None) -> str:
    """`asc` by default; anything but asc/desc is the caller's mistake (400), not a 500."""
    if sort_dir in (None, ""):
        return "asc"
    if sort_dir not in ("asc", "desc"):
        raise exception.InvalidParameterValue(
            err=f"sort_dir: {sort_dir!r} is not one of 'asc', 'desc'.")
    return sort_dir


def _paginate(session: Any, query: Any, model: Any, limit: int | None, marker: str | None,
              sort_key: str | None, sort_dir: str | None) -> list:
    marker_row = None
    if marker is not None:
        # Looked up through the caller's query: another project's uuid is no valid marker.
        marker_row = query.filter(model.uuid == marker).first()
        if marker_row is None:
            raise exception.InvalidParameterValue(
                err=f"marker: no object with uuid {marker} exists.")
    sort_keys = [sort_key or "id"]
    if "id" not in sort_keys:
        sort_keys.append("id")
    try:
        query = db_utils.paginate_query(query, model, limit, sort_keys, marker=marker_row,
                                        sort_dir=_sort_dir(sort_dir))
    except db_exc.InvalidSortKey as err:
        raise exception.InvalidParameterValue(err=f"sort_key: {err}") from err
    # Plain rows, not ORM instances: a page is read, never written, and rows cost a third.
    return query.with_entities(*model.__table__.columns).all()


def _core_page(table: sa.Table, where: list, limit: int | None, sort_key: str | None,
               sort_dir: str | None) -> list | None:
    """A page without a marker as one Core SELECT (rows like `_paginate`'s, in the same order:
    the sort key then id, in `sort_dir`), or None when `sort_key` names no column (the caller
    then goes through `_paginate`, which answers that 400)."""
    keys = [sort_key or "id"]
    if "id" not in keys:
        keys.append("id")
    if any(key not in table.c for key in keys):
        return None
    direction = sa.desc if _sort_dir(sort_dir) == "desc" else sa.asc
    statement = sa.select(table).where(*where).order_by(*(direction(table.c[k]) for k in keys))
    if limit:
        statement = statement.limit(limit)
    with _single_read() as conn:
        return conn.execute(statement).all()


def _core_filters(table: sa.Table, filters: dict | None, allowed: tuple) -> list:
    """`_apply_filters` as Core criteria."""
    where = []
    for key, value in (filters or {}).items():
        if key not in allowed:
            continue
        column = table.c[key]
        where.append(column.in_(list(value)) if isinstance(value, (list, tuple, set))
                     else column == value)
    return where


def _one_by_name(query: Any, model: Any, name: str, resource: str, not_found: Exception) -> Any:
    rows = query.filter(model.name == name).limit(2).all()
    if not rows:
        raise not_found
    if len(rows) > 1:
        raise exception.Duplicate(resource=resource, name=name)
    return rows[0]


def _new_row(model: type, values: dict) -> Any:
    """An unsaved row of `model` with `values` and a new uuid unless they name one."""
    row = model()
    row.update({"uuid": uuidutils.generate_uuid(), **values})
    return row


def _add(row: Any, already_exists: Callable[[Any], Exception] | None = None) -> Any:
    """Insert `row` in a transaction of its own; a duplicate key raises
    `already_exists(row)` when given."""
    try:
        with _writer() as session:
            session.add(row)
            session.flush()
    except db_exc.DBDuplicateEntry as err:
        if already_exists is None:
            raise
        raise already_exists(row) from err
    return row


def _row(model: type, values: dict) -> Any:
    """An unsaved row of `model` (one without a uuid) with `values`."""
    row = model()
    row.update(values)
    return row


# The tables the Core reads (hot reads by uuid, pages without a marker) select from.
_TEMPLATES = models.ClusterTemplate.__table__
_CLUSTERS = models.Cluster.__table__
_NODEGROUPS = models.NodeGroup.__table__


def _sees_all_projects(context: Any) -> bool:
    return bool(context.is_admin and getattr(context, "all_projects", False))


def _hot_read_by_uuid(statements: dict[bool, Any], context: Any, uuid: str) -> Any:
    """The row a prebuilt by-uuid statement finds for the caller (None: none it may see)."""
    with _single_read() as conn:
        return conn.execute(statements[_sees_all_projects(context)],
                            {"uuid": uuid, "project_id": context.project_id}).first()
