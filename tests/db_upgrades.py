"""Racing `db upgrade`s: several interpreters upgrading one database at the same moment."""

from __future__ import annotations

import multiprocessing
from typing import Any


def _upgrade_in_child(url: str, barrier: Any, results: Any) -> None:
    # Its own interpreter, configured as a second `magnum-lite-manage db upgrade` would be.
    from magnum_lite.conf import CONF
    from magnum_lite.db import migration

    CONF([], project="magnum-lite", default_config_files=[], default_config_dirs=[])
    CONF.set_override("connection", url, group="database")
    barrier.wait()
    try:
        migration.upgrade()
        results.put("ok")
    except Exception as err:  # noqa: BLE001  (reported to the parent)
        results.put(repr(err)[:300])


def upgrade_concurrently(url: str, workers: int) -> list[str]:
    """Start `workers` upgrades of `url` together; each one's outcome ("ok" or its error)."""
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(workers), spawn.Queue()
    children = [spawn.Process(target=_upgrade_in_child, args=(url, barrier, results))
                for _ in range(workers)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    return [results.get(timeout=5) for _ in children]
