"""SQLAlchemy implementation of the database interface.

Every public method opens its own short transaction through oslo.db's enginefacade, so a
connection goes back to the pool when the method returns: nothing outlives a request.
Cluster and nodegroup writes are compare-and-swap on `revision`.
"""

from collections.abc import Iterator
import contextlib
import os
import threading
import time
from typing import Any

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import enginefacade
from oslo_db.sqlalchemy import utils as db_utils
from oslo_utils import timeutils, uuidutils
import sqlalchemy as sa
from sqlalchemy import event

from magnum_lite.common import exception
from magnum_lite.conf import CONF
from magnum_lite.conf import database as database_conf
from magnum_lite.db.sqlalchemy import models

_CONTEXT = threading.local()
_FACADE_LOCK = threading.Lock()
_FACADE: Any = None

# Seconds a pooled connection may sit idle before its next checkout tests it (see
# _ping_idle_connections_only).
IDLE_PING_SECONDS = 2.0
# Seconds a SQLite writer waits for the lock held by another writer.
SQLITE_BUSY_TIMEOUT_MS = 30000
# Execution option marking the connection of a writer transaction.
_WRITER_OPTION = "magnum_lite_writer"


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout first: switching to WAL needs a lock another process may hold.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_sqlite_statement(connection: sa.Connection, cursor: Any, statement: str,
                         parameters: Any, context: Any, executemany: bool) -> tuple:
    """Writers take SQLite's write lock at BEGIN (BEGIN IMMEDIATE), waiting up to the busy
    timeout for it. A deferred transaction that reads and then writes cannot wait: when another
    writer got in between, SQLite fails it at once with "database is locked"."""
    # oslo.db turns pysqlite's own transaction handling off and emits a plain BEGIN itself.
    if statement == "BEGIN" and connection.get_execution_options().get(_WRITER_OPTION):
        statement = "BEGIN IMMEDIATE"
    return statement, parameters


def _mark_idle(dbapi_connection: Any, connection_record: Any) -> None:
    connection_record.info["idle_since"] = time.monotonic()


def _ping_idle_connections_only(engine: sa.engine.Engine) -> None:
    """Test only connections that sat idle, instead of every checkout.

    oslo.db turns on pool_pre_ping (not configurable through it), which costs a transaction of
    its own on every checkout: on PostgreSQL a quarter of a single-row read. A connection that
    was in use within IDLE_PING_SECONDS is alive; an idle one is tested and, when dead,
    replaced before use (SQLAlchemy's pessimistic disconnect handling). A server restarted
    during busy traffic costs at most the requests in flight: the disconnect invalidates the
    whole pool.
    """
    dialect = engine.dialect

    def ping_if_idle(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        idle_since = connection_record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as err:  # any failure of the ping means: not usable
            raise sa.exc.DisconnectionError(str(err)) from err

    engine.pool._pre_ping = False
    event.listen(engine, "checkin", _mark_idle)
    event.listen(engine, "checkout", ping_if_idle)


def get_facade() -> Any:
    """The process's enginefacade, configured on first use from [database]."""
    global _FACADE
    if _FACADE is None:
        with _FACADE_LOCK:
            if _FACADE is None:
                url = database_conf.connection_url(CONF)
                if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                    os.makedirs(os.path.dirname(url[len("sqlite:///"):]) or ".", exist_ok=True)
                facade = enginefacade.transaction_context()
                # thread_checkin adds a sleep(0) per checkin for eventlet's sake: no eventlet here.
                facade.configure(connection=url, sqlite_fk=False, thread_checkin=False)
                engine = facade.writer.get_engine()
                _ping_idle_connections_only(engine)
                if engine.dialect.name == "sqlite":
                    event.listen(engine, "connect", _on_sqlite_connect)
                    event.listen(engine, "before_cursor_execute", _on_sqlite_statement,
                                 retval=True)
                _FACADE = facade
    return _FACADE


def get_engine() -> sa.engine.Engine:
    return get_facade().writer.get_engine()


def dispose_engine() -> None:
    """Forget the engine (tests, and processes that fork after touching the database)."""
    global _FACADE
    with _FACADE_LOCK:
        if _FACADE is not None:
            _FACADE.writer.get_engine().dispose()
            _FACADE.dispose_pool()
        _FACADE = None


def _reader() -> Any:
    return get_facade().reader.using(_CONTEXT)


@contextlib.contextmanager
def _writer() -> Iterator[Any]:
    with get_facade().writer.using(_CONTEXT) as session:
        session.connection(execution_options={_WRITER_OPTION: True})
        yield session


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


def _add(row: Any) -> Any:
    """Insert `row` in a transaction of its own."""
    with _writer() as session:
        session.add(row)
        session.flush()
    return row


class Connection:
    """All database operations of magnum_lite, one short transaction each."""

    # ------------------------------------------------------------------ cluster templates
    TEMPLATE_FILTERS = ("name", "coe", "server_type", "cluster_distro", "public", "hidden",
                        "project_id", "driver", "image_id")

    def _template_query(self, context: Any, session: Any) -> Any:
        query = session.query(models.ClusterTemplate)
        if context.is_admin and getattr(context, "all_projects", False):
            return query
        return query.filter(sa.or_(models.ClusterTemplate.project_id == context.project_id,
                                   models.ClusterTemplate.public.is_(True)))

    def get_cluster_template_list(self, context: Any, filters: dict | None = None,
                                  limit: int | None = None, marker: str | None = None,
                                  sort_key: str | None = None,
                                  sort_dir: str | None = None) -> list:
        with _reader() as session:
            query = self._template_query(context, session)
            if not context.is_admin:
                query = query.filter(sa.or_(models.ClusterTemplate.hidden.is_(False),
                                            models.ClusterTemplate.hidden.is_(None)))
            query = _apply_filters(query, models.ClusterTemplate, filters, self.TEMPLATE_FILTERS)
            return _paginate(session, query, models.ClusterTemplate, limit, marker, sort_key,
                             sort_dir)

    def create_cluster_template(self, values: dict) -> models.ClusterTemplate:
        values = dict(values)
        values.setdefault("uuid", uuidutils.generate_uuid())
        row = models.ClusterTemplate()
        row.update(values)
        try:
            with _writer() as session:
                session.add(row)
                session.flush()
        except db_exc.DBDuplicateEntry as err:
            raise exception.ClusterTemplateAlreadyExists(uuid=values["uuid"]) from err
        return row

    def get_cluster_template_by_uuid(self, context: Any, uuid: str) -> models.ClusterTemplate:
        with _reader() as session:
            row = self._template_query(context, session).filter_by(uuid=uuid).first()
            if row is None:
                raise exception.ClusterTemplateNotFound(clustertemplate=uuid)
            return row

    def get_cluster_template_by_id(self, context: Any, id_: int) -> models.ClusterTemplate:
        with _reader() as session:
            row = self._template_query(context, session).filter_by(id=id_).first()
            if row is None:
                raise exception.ClusterTemplateNotFound(clustertemplate=id_)
            return row

    def get_cluster_template_by_name(self, context: Any, name: str) -> models.ClusterTemplate:
        with _reader() as session:
            return _one_by_name(self._template_query(context, session), models.ClusterTemplate,
                                name, "ClusterTemplates",
                                exception.ClusterTemplateNotFound(clustertemplate=name))

    def update_cluster_template(self, uuid: str, values: dict) -> models.ClusterTemplate:
        values = {k: v for k, v in values.items() if k not in ("id", "uuid")}
        with _writer() as session:
            row = session.query(models.ClusterTemplate).filter_by(uuid=uuid).first()
            if row is None:
                raise exception.ClusterTemplateNotFound(clustertemplate=uuid)
            if self._clusters_using_template(session, uuid):
                changed = {k for k, v in values.items() if getattr(row, k) != v}
                # Like Magnum: a template in use may only change these fields.
                if changed - {"public", "hidden", "name"}:
                    raise exception.ClusterTemplateReferenced(clustertemplate=uuid)
            row.update(values)
            session.flush()
            return row

    def _clusters_using_template(self, session: Any, uuid: str) -> int:
        """Clusters on the template, and upgrades in flight to it (their clusters move to
        it when they end)."""
        clusters = session.query(sa.func.count(models.Cluster.id)).filter(
            models.Cluster.cluster_template_id == uuid).scalar()
        upgrades = session.query(models.ClusterOperation.params).filter(
            models.ClusterOperation.kind == "upgrade",
            models.ClusterOperation.outcome.is_(None)).all()
        return clusters + sum(1 for (params,) in upgrades
                              if (params or {}).get("cluster_template_uuid") == uuid)

    def destroy_cluster_template(self, uuid: str) -> None:
        with _writer() as session:
            if self._clusters_using_template(session, uuid):
                raise exception.ClusterTemplateReferenced(clustertemplate=uuid)
            count = session.query(models.ClusterTemplate).filter_by(uuid=uuid).delete()
            if not count:
                raise exception.ClusterTemplateNotFound(clustertemplate=uuid)

    # ------------------------------------------------------------------ clusters
    # Column filters; besides, `driver_name` keeps the clusters of any version of that driver.
    CLUSTER_FILTERS = ("name", "status", "cluster_template_id", "project_id", "keypair",
                       "driver_id", "driver_version", "health_status")

    def get_cluster_list(self, context: Any, filters: dict | None = None,
                         limit: int | None = None, marker: str | None = None,
                         sort_key: str | None = None, sort_dir: str | None = None) -> list:
        with _reader() as session:
            query = _filter_by_project(context, session.query(models.Cluster), models.Cluster)
            query = _apply_filters(query, models.Cluster, filters, self.CLUSTER_FILTERS)
            if (filters or {}).get("driver_name") is not None:
                # Every version of that driver, soft-deleted ones too (their clusters stay).
                versions = sa.select(models.Driver.uuid).where(
                    models.Driver.name == filters["driver_name"])
                query = query.filter(models.Cluster.driver_id.in_(versions))
            return _paginate(session, query, models.Cluster, limit, marker, sort_key, sort_dir)

    def create_cluster(self, values: dict) -> models.Cluster:
        values = dict(values)
        values.setdefault("uuid", uuidutils.generate_uuid())
        row = models.Cluster()
        row.update(values)
        try:
            with _writer() as session:
                session.add(row)
                session.flush()
        except db_exc.DBDuplicateEntry as err:
            raise exception.ClusterAlreadyExists(uuid=values["uuid"]) from err
        return row

    def create_cluster_with_nodegroups(self, values: dict, nodegroups: list[dict],
                                       **transition: dict | None) -> models.Cluster:
        """A cluster and its default nodegroups (and the rows of its create: `new_operation`,
        named by the cluster's operation_uuid, and `event`) in one transaction: all or
        nothing."""
        values = dict(values)
        values.setdefault("uuid", uuidutils.generate_uuid())
        row = models.Cluster()
        row.update(values)
        try:
            with _writer() as session:
                session.add(row)
                self._write_transition(session, **transition)
                for ng_values in nodegroups:
                    ng = models.NodeGroup()
                    ng.update({"uuid": uuidutils.generate_uuid(), **ng_values,
                               "cluster_id": values["uuid"]})
                    session.add(ng)
                session.flush()
        except db_exc.DBDuplicateEntry as err:
            raise exception.ClusterAlreadyExists(uuid=values["uuid"]) from err
        return row

    def _cluster_query(self, context: Any, session: Any) -> Any:
        return _filter_by_project(context, session.query(models.Cluster), models.Cluster)

    def get_cluster_by_uuid(self, context: Any, uuid: str) -> models.Cluster:
        with _reader() as session:
            row = self._cluster_query(context, session).filter_by(uuid=uuid).first()
            if row is None:
                raise exception.ClusterNotFound(cluster=uuid)
            return row

    def get_cluster_by_id(self, context: Any, id_: int) -> models.Cluster:
        with _reader() as session:
            row = self._cluster_query(context, session).filter_by(id=id_).first()
            if row is None:
                raise exception.ClusterNotFound(cluster=id_)
            return row

    def get_cluster_by_name(self, context: Any, name: str) -> models.Cluster:
        with _reader() as session:
            return _one_by_name(self._cluster_query(context, session), models.Cluster, name,
                                "clusters", exception.ClusterNotFound(cluster=name))

    def update_cluster(self, uuid: str, values: dict,
                       expected_revision: int | None = None,
                       **transition: dict | None) -> models.Cluster:
        """Write `values` if the row is still at `expected_revision`; bump the revision.

        The rows of a `transition` (`new_operation` to insert, `operation_changes` =
        {"uuid": ..., field: value} of one, an `event`) are written in the same transaction:
        an operation starts or ends together with the cluster's status, or not at all."""
        return self._compare_and_swap(models.Cluster, uuid, values, expected_revision,
                                      exception.ClusterNotFound(cluster=uuid), "Cluster",
                                      transition)

    def update_cluster_health(self, uuid: str, status: str, reason: dict,
                              event: dict | None = None) -> bool:
        """The health monitor's write of a cluster in a *_COMPLETE status with no operation
        in flight: `health_status` and `health_status_reason` (and `event`, in the same
        transaction), without a new revision, so that a finding never fails a user's
        compare-and-swap (a user's write carries only the fields it changed). False when
        the cluster is gone or in an operation."""
        with _writer() as session:
            count = session.query(models.Cluster).filter(
                models.Cluster.uuid == uuid, models.Cluster.operation_uuid.is_(None),
                models.Cluster.status.like("%\\_COMPLETE", escape="\\"),
                models.Cluster.status != "DELETE_COMPLETE").update(
                {"health_status": status, "health_status_reason": reason},
                synchronize_session=False)
            if count and event is not None:
                session.add(self._event_row(event))
            return bool(count)

    def destroy_cluster(self, uuid: str, expected_revision: int | None = None,
                        **transition: dict | None) -> None:
        """Delete a cluster with its nodegroups and key pairs (if the row is still at
        `expected_revision`), and write the rows of its delete's end (`operation_changes`,
        `event`; the operation's row stays) in the same transaction."""
        with _writer() as session:
            query = session.query(models.Cluster).filter_by(uuid=uuid)
            if expected_revision is not None:
                query = query.filter(models.Cluster.revision == expected_revision)
            count = query.delete()
            if not count:
                if session.query(models.Cluster.id).filter_by(uuid=uuid).first() is None:
                    raise exception.ClusterNotFound(cluster=uuid)
                raise exception.ConcurrentUpdate(resource="Cluster", uuid=uuid)
            session.query(models.NodeGroup).filter_by(cluster_id=uuid).delete()
            session.query(models.X509KeyPair).filter_by(cluster_id=uuid).delete()
            self._write_transition(session, **transition)

    def list_clusters_in_flight(self, statuses: list[str]) -> list[tuple[Any, Any]]:
        """Clusters of every project in one of `statuses` or with an operation in flight,
        each with that operation's row (None without one), in one query (the reconciler's
        round)."""
        with _reader() as session:
            operation = models.ClusterOperation
            rows = session.query(models.Cluster, operation).outerjoin(
                operation, sa.and_(operation.uuid == models.Cluster.operation_uuid,
                                   operation.outcome.is_(None))).filter(
                sa.or_(models.Cluster.status.in_(list(statuses)),
                       operation.id.isnot(None))).order_by(models.Cluster.id).all()
            return [(row, op_row) for row, op_row in rows]

    def count_clusters(self, project_id: str) -> int:
        with _reader() as session:
            return session.query(sa.func.count(models.Cluster.id)).filter(
                models.Cluster.project_id == project_id).scalar()

    def get_cluster_stats(self, context: Any, project_id: str | None = None) -> tuple[int, int]:
        """(clusters, nodes) of a project, or of every project for None."""
        with _reader() as session:
            clusters = session.query(sa.func.count(models.Cluster.id))
            nodes = session.query(sa.func.coalesce(sa.func.sum(models.NodeGroup.node_count), 0))
            if project_id is not None:
                clusters = clusters.filter(models.Cluster.project_id == project_id)
                nodes = nodes.filter(models.NodeGroup.project_id == project_id)
            return clusters.scalar(), int(nodes.scalar())

    def _compare_and_swap(self, model: Any, uuid: str, values: dict,
                          expected_revision: int | None, not_found: Exception,
                          resource: str, transition: dict | None = None) -> Any:
        values = {k: v for k, v in values.items() if k not in ("id", "uuid", "revision")}
        values["updated_at"] = timeutils.utcnow()
        with _writer() as session:
            # The write comes first, so SQLite takes its write lock at once (no lock upgrade).
            query = session.query(model).filter(model.uuid == uuid)
            if expected_revision is not None:
                query = query.filter(model.revision == expected_revision)
            count = query.update({**values, "revision": model.revision + 1},
                                 synchronize_session=False)
            if count == 1:
                self._write_transition(session, **(transition or {}))
                return session.query(model).filter_by(uuid=uuid).one()
            if session.query(model.id).filter_by(uuid=uuid).first() is None:
                raise not_found
            raise exception.ConcurrentUpdate(resource=resource, uuid=uuid)

    # ------------------------------------------------------------------ nodegroups
    NODEGROUP_FILTERS = ("name", "role", "is_default", "status")

    def create_nodegroup(self, values: dict) -> models.NodeGroup:
        values = dict(values)
        values.setdefault("uuid", uuidutils.generate_uuid())
        row = models.NodeGroup()
        row.update(values)
        try:
            with _writer() as session:
                session.add(row)
                session.flush()
        except db_exc.DBDuplicateEntry as err:
            raise exception.NodeGroupAlreadyExists(name=values.get("name"),
                                                   cluster_id=values.get("cluster_id")) from err
        return row

    def _nodegroup_query(self, context: Any, session: Any, cluster_id: str) -> Any:
        query = session.query(models.NodeGroup).filter_by(cluster_id=cluster_id)
        return _filter_by_project(context, query, models.NodeGroup)

    def list_cluster_nodegroups(self, context: Any, cluster_id: str,
                                filters: dict | None = None, limit: int | None = None,
                                marker: str | None = None, sort_key: str | None = None,
                                sort_dir: str | None = None) -> list:
        with _reader() as session:
            query = self._nodegroup_query(context, session, cluster_id)
            query = _apply_filters(query, models.NodeGroup, filters, self.NODEGROUP_FILTERS)
            return _paginate(session, query, models.NodeGroup, limit, marker, sort_key, sort_dir)

    def list_nodegroups_of_clusters(self, cluster_ids: list[str]) -> list:
        """Every nodegroup of the given clusters, in one query (for list/detail pages)."""
        if not cluster_ids:
            return []
        with _reader() as session:
            return session.query(models.NodeGroup).filter(
                models.NodeGroup.cluster_id.in_(cluster_ids)).order_by(models.NodeGroup.id).all()

    def get_nodegroup_by_uuid(self, context: Any, cluster_id: str,
                              uuid: str) -> models.NodeGroup:
        with _reader() as session:
            row = self._nodegroup_query(context, session, cluster_id).filter_by(
                uuid=uuid).first()
            if row is None:
                raise exception.NodeGroupNotFound(nodegroup=uuid)
            return row

    def get_nodegroup_by_name(self, context: Any, cluster_id: str,
                              name: str) -> models.NodeGroup:
        with _reader() as session:
            return _one_by_name(self._nodegroup_query(context, session, cluster_id),
                                models.NodeGroup, name, "nodegroups",
                                exception.NodeGroupNotFound(nodegroup=name))

    def update_nodegroup(self, uuid: str, values: dict,
                         expected_revision: int | None = None) -> models.NodeGroup:
        return self._compare_and_swap(models.NodeGroup, uuid, values, expected_revision,
                                      exception.NodeGroupNotFound(nodegroup=uuid), "Nodegroup")

    def destroy_nodegroup(self, uuid: str) -> None:
        with _writer() as session:
            if not session.query(models.NodeGroup).filter_by(uuid=uuid).delete():
                raise exception.NodeGroupNotFound(nodegroup=uuid)

    # ------------------------------------------------------------------ drivers
    def create_driver(self, values: dict) -> models.Driver:
        """A new version row of driver `name`: version = the highest so far + 1."""
        values = dict(values)
        values.setdefault("uuid", uuidutils.generate_uuid())
        for _attempt in range(5):
            try:
                with _writer() as session:
                    latest = session.query(sa.func.max(models.Driver.version)).filter(
                        models.Driver.name == values["name"]).scalar()
                    row = models.Driver()
                    row.update({**values, "version": (latest or 0) + 1})
                    session.add(row)
                    session.flush()
                    return row
            except db_exc.DBDuplicateEntry:
                continue  # another writer took that version number: take the next one
        raise exception.ConcurrentUpdate(resource="Driver", uuid=values["name"])

    def list_drivers(self, include_deleted: bool = False, name: str | None = None) -> list:
        with _reader() as session:
            query = session.query(models.Driver)
            if name is not None:
                query = query.filter(models.Driver.name == name)
            if not include_deleted:
                query = query.filter(models.Driver.deleted_at.is_(None))
            return query.order_by(models.Driver.name, models.Driver.version).all()

    def get_driver_by_uuid(self, uuid: str) -> models.Driver:
        with _reader() as session:
            row = session.query(models.Driver).filter_by(uuid=uuid).first()
            if row is None:
                raise exception.DriverNotFound(driver=uuid)
            return row

    def get_latest_driver(self, name: str, enabled_only: bool = False) -> models.Driver:
        with _reader() as session:
            query = session.query(models.Driver).filter(models.Driver.name == name,
                                                        models.Driver.deleted_at.is_(None))
            if enabled_only:
                query = query.filter(models.Driver.enabled.is_(True))
            row = query.order_by(models.Driver.version.desc()).first()
            if row is None:
                raise exception.DriverNotFound(driver=name)
            return row

    def create_first_driver_version(self, values: dict) -> models.Driver | None:
        """Version 1 of driver `name`, or None when the name already has rows.

        Rows are never removed and every name starts at version 1, so the unique (name,
        version) key alone tells, atomically, whether the name was ever used. Unlike
        create_driver this never takes the next number.
        """
        values = {**values, "version": 1}
        values.setdefault("uuid", uuidutils.generate_uuid())
        try:
            with _writer() as session:
                row = models.Driver()
                row.update(values)
                session.add(row)
                session.flush()
                return row
        except db_exc.DBDuplicateEntry:
            return None  # another process seeded it first

    def count_clusters_by_driver(self, driver_uuids: list[str]) -> dict[str, int]:
        """Driver row uuid -> number of clusters (of every project) pinned to it."""
        if not driver_uuids:
            return {}
        with _reader() as session:
            rows = session.query(models.Cluster.driver_id, sa.func.count(models.Cluster.id)
                                 ).filter(models.Cluster.driver_id.in_(driver_uuids)
                                          ).group_by(models.Cluster.driver_id).all()
        return {uuid: count for uuid, count in rows}

    def soft_delete_drivers(self, uuids: list[str]) -> None:
        """Mark the rows deleted, in one transaction with the check that no cluster uses them."""
        with _writer() as session:
            used = session.query(models.Cluster.driver_id).filter(
                models.Cluster.driver_id.in_(uuids)).first()
            if used is not None:
                raise exception.DriverInUse(driver=used[0])
            session.query(models.Driver).filter(
                models.Driver.uuid.in_(uuids), models.Driver.deleted_at.is_(None)).update(
                {"deleted_at": timeutils.utcnow()}, synchronize_session=False)

    # ------------------------------------------------------------------ cluster operations
    OPERATION_FIELDS = ("cluster_uuid", "project_id", "user_id", "request_id", "kind",
                        "params", "plan", "step", "owner", "started_at", "deadline",
                        "finished_at", "outcome", "fault", "cluster_version", "auth_token")

    def _write_transition(self, session: Any, new_operation: dict | None = None,
                          operation_changes: dict | None = None,
                          event: dict | None = None) -> None:
        """The rows an operation's transition writes with its cluster's (one transaction).
        `operation_changes` may hold "expected" field values the operation row must still
        have (OperationFenced otherwise)."""
        if new_operation is not None:
            session.add(self._operation_row(new_operation))
        if operation_changes is not None:
            changes = dict(operation_changes)
            expected = changes.pop("expected", None)
            uuid = changes["uuid"]
            if not self._update_operation(session, changes, expected) and expected:
                # Fencing: the writer lost the operation; its whole transition is undone.
                raise exception.OperationFenced(operation=uuid,
                                                owner=expected.get("owner"))
        if event is not None:
            session.add(self._event_row(event))
        session.flush()

    @staticmethod
    def _operation_row(values: dict) -> models.ClusterOperation:
        return _new_row(models.ClusterOperation, {"revision": 0, **values})

    def create_cluster_operation(self, values: dict) -> models.ClusterOperation:
        return _add(self._operation_row(values))

    def get_cluster_operation(self, uuid: str) -> models.ClusterOperation:
        with _reader() as session:
            row = session.query(models.ClusterOperation).filter_by(uuid=uuid).first()
            if row is None:
                raise exception.ClusterOperationNotFound(operation=uuid)
            return row

    def list_cluster_operations(self, cluster_uuid: str | None = None,
                                in_flight: bool | None = None) -> list:
        """Operations oldest first: of one cluster (or all), in flight only (outcome NULL),
        finished only, or both (None)."""
        with _reader() as session:
            query = session.query(models.ClusterOperation)
            if cluster_uuid is not None:
                query = query.filter_by(cluster_uuid=cluster_uuid)
            if in_flight is not None:
                outcome = models.ClusterOperation.outcome
                query = query.filter(outcome.is_(None) if in_flight else outcome.isnot(None))
            return query.order_by(models.ClusterOperation.id).all()

    def _update_operation(self, session: Any, values: dict,
                          expected: dict | None = None) -> int:
        uuid = values.pop("uuid")
        values = {k: v for k, v in values.items() if k in self.OPERATION_FIELDS}
        values["updated_at"] = timeutils.utcnow()
        model = models.ClusterOperation
        query = session.query(model).filter(model.uuid == uuid)
        for name, value in (expected or {}).items():
            column = getattr(model, name)
            query = query.filter(column.is_(None) if value is None else column == value)
        return query.update({**values, "revision": model.revision + 1},
                            synchronize_session=False)

    def update_cluster_operation(self, uuid: str, values: dict,
                                 expected: dict | None = None,
                                 event: dict | None = None) -> models.ClusterOperation:
        """Write `values` if the row still has the `expected` field values (a guarded write:
        e.g. a step or owner changes only while the operation is in flight);
        ConcurrentUpdate otherwise. `event` is written in the same transaction (an
        upgrade's finished batch and its event are recorded together or not at all)."""
        with _writer() as session:
            count = self._update_operation(session, {**values, "uuid": uuid}, expected)
            row = session.query(models.ClusterOperation).filter_by(uuid=uuid).first()
            if row is None:
                raise exception.ClusterOperationNotFound(operation=uuid)
            if count != 1:
                raise exception.ConcurrentUpdate(resource="Cluster operation", uuid=uuid)
            if event is not None:
                session.add(self._event_row(event))
                session.flush()
            return row

    # ------------------------------------------------------------------ cluster events
    @staticmethod
    def _event_row(values: dict) -> models.ClusterEvent:
        return _new_row(models.ClusterEvent, values)

    def create_cluster_event(self, values: dict) -> models.ClusterEvent:
        return _add(self._event_row(values))

    def list_cluster_events(self, cluster_id: str, limit: int | None = None,
                            marker: str | None = None, sort_dir: str = "asc",
                            sort_key: str = "id") -> list:
        """A cluster's events (also after its row is gone), oldest first unless `sort_dir`
        is desc; the marker is an event uuid of the same cluster."""
        with _reader() as session:
            query = session.query(models.ClusterEvent).filter_by(cluster_id=cluster_id)
            return _paginate(session, query, models.ClusterEvent, limit, marker, sort_key,
                             sort_dir)

    # ------------------------------------------------------------------ x509 key pairs
    def create_x509keypair(self, values: dict) -> models.X509KeyPair:
        values = dict(values)
        values.setdefault("uuid", uuidutils.generate_uuid())
        row = models.X509KeyPair()
        row.update(values)
        with _writer() as session:
            session.add(row)
            session.flush()
        return row

    def get_x509keypair_by_uuid(self, context: Any, uuid: str) -> models.X509KeyPair:
        with _reader() as session:
            query = _filter_by_project(context, session.query(models.X509KeyPair),
                                       models.X509KeyPair)
            row = query.filter_by(uuid=uuid).first()
            if row is None:
                raise exception.X509KeyPairNotFound(x509keypair=uuid)
            return row

    def destroy_x509keypair(self, uuid: str) -> None:
        with _writer() as session:
            if not session.query(models.X509KeyPair).filter_by(uuid=uuid).delete():
                raise exception.X509KeyPairNotFound(x509keypair=uuid)

    # ------------------------------------------------------------------ stored secrets
    # The columns holding secrets encrypted at rest (common/encryption.py), by table.
    SECRET_COLUMNS: dict[str, tuple[str, ...]] = {
        "x509keypair": ("private_key",),
        "cluster": ("trustee_password", "join_token"),
    }
    _SECRET_MODELS: dict[str, Any] = {"x509keypair": models.X509KeyPair,
                                      "cluster": models.Cluster}

    def list_secret_rows(self) -> list[tuple[str, str, dict[str, str | None]]]:
        """(table, uuid, {column: stored value}) of every row with a secret column set.

        For key rotation and the status check: they look at every stored secret at once.
        """
        rows = []
        with _reader() as session:
            for table, columns in self.SECRET_COLUMNS.items():
                model = self._SECRET_MODELS[table]
                attributes = [getattr(model, column) for column in columns]
                query = session.query(model.uuid, *attributes).filter(
                    sa.or_(*(attribute.isnot(None) for attribute in attributes))
                ).order_by(model.id)
                for uuid, *values in query:
                    rows.append((table, uuid, dict(zip(columns, values, strict=True))))
        return rows

    def replace_secrets(self, table: str, uuid: str, expected: dict[str, str | None],
                        values: dict[str, str | None]) -> bool:
        """Swap one row's secret columns from `expected` to `values` in one transaction.

        A compare-and-swap on the old values, so a secret written meanwhile by someone else
        is never overwritten; False when the row changed or is gone (re-running retries it).
        Neither `revision` nor `updated_at` moves: the secret's plaintext is unchanged.
        """
        allowed = self.SECRET_COLUMNS.get(table)
        if allowed is None or not set(values) <= set(allowed) or set(expected) != set(values):
            raise ValueError(f"not secret columns of {table}: {sorted(values)}")
        if not values:
            return True
        model = self._SECRET_MODELS[table]
        with _writer() as session:
            query = session.query(model).filter(model.uuid == uuid)
            for column, old in expected.items():
                attribute = getattr(model, column)
                query = query.filter(attribute.is_(None) if old is None else attribute == old)
            count = query.update({**values, "updated_at": model.updated_at},
                                 synchronize_session=False)
        return count == 1

    # ------------------------------------------------------------------ quotas
    def create_quota(self, values: dict) -> models.Quota:
        row = models.Quota()
        row.update(values)
        try:
            with _writer() as session:
                session.add(row)
                session.flush()
        except db_exc.DBDuplicateEntry as err:
            raise exception.QuotaAlreadyExists(project_id=values["project_id"],
                                               resource=values["resource"]) from err
        return row

    def get_quota(self, project_id: str, resource: str) -> models.Quota:
        with _reader() as session:
            row = session.query(models.Quota).filter_by(project_id=project_id,
                                                        resource=resource).first()
            if row is None:
                raise exception.QuotaNotFound(
                    msg=f"for project {project_id} and resource {resource}")
            return row

    def list_quotas(self, context: Any, filters: dict | None = None, limit: int | None = None,
                    marker: int | None = None, sort_key: str | None = None,
                    sort_dir: str | None = None) -> list:
        with _reader() as session:
            query = _filter_by_project(context, session.query(models.Quota), models.Quota)
            query = _apply_filters(query, models.Quota, filters, ("project_id", "resource"))
            marker_row = None
            if marker is not None:
                marker_row = session.query(models.Quota).filter_by(id=marker).first()
                if marker_row is None:
                    raise exception.InvalidParameterValue(
                        err=f"marker: no quota with id {marker} exists.")
            sort_keys = [sort_key or "id"] + ([] if sort_key in (None, "id") else ["id"])
            try:
                query = db_utils.paginate_query(query, models.Quota, limit, sort_keys,
                                                marker=marker_row, sort_dir=_sort_dir(sort_dir))
            except db_exc.InvalidSortKey as err:
                raise exception.InvalidParameterValue(err=f"sort_key: {err}") from err
            return query.all()

    def update_quota(self, project_id: str, resource: str, hard_limit: int) -> models.Quota:
        with _writer() as session:
            count = session.query(models.Quota).filter_by(
                project_id=project_id, resource=resource).update(
                {"hard_limit": hard_limit, "updated_at": timeutils.utcnow()})
            if not count:
                raise exception.QuotaNotFound(
                    msg=f"for project {project_id} and resource {resource}")
            return session.query(models.Quota).filter_by(project_id=project_id,
                                                         resource=resource).one()

    def delete_quota(self, project_id: str, resource: str) -> None:
        with _writer() as session:
            if not session.query(models.Quota).filter_by(project_id=project_id,
                                                         resource=resource).delete():
                raise exception.QuotaNotFound(
                    msg=f"for project {project_id} and resource {resource}")

    # ------------------------------------------------------------------ services
    def create_magnum_service(self, values: dict) -> models.MagnumService:
        row = models.MagnumService()
        row.update(values)
        try:
            with _writer() as session:
                session.add(row)
                session.flush()
        except db_exc.DBDuplicateEntry as err:
            raise exception.MagnumServiceAlreadyExists(host=values.get("host"),
                                                       binary=values.get("binary")) from err
        return row

    def get_magnum_service_by_host_and_binary(self, host: str,
                                              binary: str) -> models.MagnumService | None:
        with _reader() as session:
            return session.query(models.MagnumService).filter_by(host=host,
                                                                 binary=binary).first()

    def get_magnum_service_list(self, limit: int | None = None, marker: int | None = None,
                                sort_key: str | None = None,
                                sort_dir: str | None = None) -> list:
        with _reader() as session:
            query = session.query(models.MagnumService)
            if marker is not None:
                query = query.filter(models.MagnumService.id > marker)
            query = query.order_by(models.MagnumService.id)
            if limit:
                query = query.limit(limit)
            return query.all()

    def record_service_heartbeat(self, host: str, binary: str) -> models.MagnumService:
        """Bump report_count and last_seen_up of (host, binary), creating the row if needed."""
        now = timeutils.utcnow()
        with _writer() as session:
            count = session.query(models.MagnumService).filter_by(host=host, binary=binary).update(
                {"report_count": models.MagnumService.report_count + 1, "last_seen_up": now,
                 "forced_down": False, "updated_at": now}, synchronize_session=False)
            if count:
                return session.query(models.MagnumService).filter_by(host=host,
                                                                     binary=binary).one()
        try:
            return self.create_magnum_service({"host": host, "binary": binary, "report_count": 1,
                                               "last_seen_up": now, "disabled": False,
                                               "forced_down": False})
        except exception.MagnumServiceAlreadyExists:
            return self.record_service_heartbeat(host, binary)

    def mark_service_stopped(self, host: str, binary: str) -> None:
        """Show (host, binary) down at once (it stopped cleanly); its next heartbeat, after a
        restart, shows it up again."""
        with _writer() as session:
            session.query(models.MagnumService).filter_by(host=host, binary=binary).update(
                {"forced_down": True, "updated_at": timeutils.utcnow()},
                synchronize_session=False)

    def destroy_magnum_service(self, host: str, binary: str) -> None:
        with _writer() as session:
            session.query(models.MagnumService).filter_by(host=host, binary=binary).delete()
