"""One measured conductor process of conductor_scale.py's multi-conductor mode.

    python -m benchmarks.conductor_child HOST CONFIG HEAT_HOST:PORT   (authkey: $BENCH_HEAT_KEY)

Runs a ConductorService named HOST on CONFIG with `clients.get_heat_client` forwarding to the
benchmark's shared fake Heat (benchmarks/heat_ipc.py) and counts the SQL statements its
engine executes (SQLAlchemy's before_cursor_execute): those of reconciler rounds
(`Reconciler.run_once` in its thread: the in-flight query, the ring, the dispatch), those of
the cluster checks the rounds start (`_check_group` in the reconcile pool), and all. It reads
commands on stdin: `mark` prints (a JSON line) the counts since the previous mark; `stop`
stops the service, prints whether it stopped, and exits.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

import magnum_lite  # noqa: F401  (selects oslo.service's threading backend first)


class QueryCounter:
    """SQL statements by what issued them: a round, a check, or anything else."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.check = 0
        self.rounds: list[tuple[int, int]] = []  # (queries, in-flight clusters owned)

    def on_execute(self, *args: Any) -> None:
        kind = getattr(self.local, "kind", None)
        with self.lock:
            self.total += 1
            if kind == "check":
                self.check += 1
        if kind == "round":
            self.local.count += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            rounds = list(self.rounds)
            result = {"queries": self.total, "check_queries": self.check,
                      "rounds": len(rounds),
                      "round_queries": [q for q, _ in rounds],
                      "owned": [o for _, o in rounds]}
            self.reset()
        return result


def _instrument(counter: QueryCounter) -> None:
    import sqlalchemy as sa

    from magnum_lite.conductor import reconciler
    from magnum_lite.db.sqlalchemy import api as db_api

    sa.event.listen(db_api.get_engine(), "before_cursor_execute", counter.on_execute)
    run_once, check_group = reconciler.Reconciler.run_once, reconciler.Reconciler._check_group

    def counted_round(self: Any) -> int:
        counter.local.kind, counter.local.count = "round", 0
        try:
            return run_once(self)
        finally:
            counter.local.kind = None
            with self._lock:
                owned = len(self._schedules)
            with counter.lock:
                counter.rounds.append((counter.local.count, owned))

    def counted_check(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter.local.kind = "check"
        try:
            return check_group(self, *args, **kwargs)
        finally:
            counter.local.kind = None

    reconciler.Reconciler.run_once = counted_round
    reconciler.Reconciler._check_group = counted_check


def main() -> int:
    host, config, address = sys.argv[1:4]
    from keystoneauth1 import exceptions as ks_exceptions

    from benchmarks import heat_ipc
    from magnum_lite.common import clients, rpc, service
    from magnum_lite.conductor import service as conductor_service

    service.prepare_service(["--config-file", config], prog="magnum-lite-conductor",
                            default_config_files=[])
    heat_host, _, port = address.rpartition(":")
    remote = heat_ipc.RemoteHeatCloud((heat_host, int(port)),
                                      bytes.fromhex(os.environ["BENCH_HEAT_KEY"]))
    clients.get_heat_client = remote.client_for

    def no_endpoint(context: Any, group: str, **kwargs: Any) -> Any:
        raise ks_exceptions.EndpointNotFound(f"the benchmark's cloud has no {group}")

    clients.get_acting_auth = lambda context: None
    clients.get_adapter = no_endpoint
    counter = QueryCounter()
    _instrument(counter)
    conductor = conductor_service.ConductorService(host=host)
    conductor.start()
    print(json.dumps({"started": host}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "mark":
            print(json.dumps(counter.snapshot()), flush=True)
        elif command == "stop":
            break
    stopped = conductor.stop()
    rpc.cleanup()
    print(json.dumps({"stopped": stopped}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
