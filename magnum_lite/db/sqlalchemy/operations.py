"""Cluster operation and event queries, a mixin of api.Connection.

Together because an operation's transition writes both, in the transaction of its
cluster's write (`_write_transition`, which ClusterQueries calls).
"""

from typing import Any

from oslo_utils import timeutils

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.queries import _add, _new_row, _paginate
from magnum_lite.db.sqlalchemy.session import _reader, _writer


class OperationQueries:
    """Cluster operations and the events of their transitions."""

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
