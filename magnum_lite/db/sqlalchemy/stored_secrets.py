"""X.509 key pair and stored secret queries, a mixin of api.Connection.

Together because they hold what is encrypted at rest (common/encryption.py): key
rotation and the status check read and rewrite it column by column.
"""

from typing import Any

import sqlalchemy as sa

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.queries import (
    _add,
    _filter_by_project,
    _new_row,
)
from magnum_lite.db.sqlalchemy.session import _reader, _writer


class SecretQueries:
    """X.509 key pairs, and every secret column for key rotation."""

    def create_x509keypair(self, values: dict) -> models.X509KeyPair:
        return _add(_new_row(models.X509KeyPair, values))

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
