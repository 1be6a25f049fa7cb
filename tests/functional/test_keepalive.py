"""Kept-alive connections: a polling client never has a pooled connection closed under it.

A `requests.Session` reuses its connection after each idle gap. When the server closes an idle
connection just as the client sends on it, the client gets "Remote end closed connection
without response" (or a reset), and nothing is logged on the server. gunicorn's default 2 s
keepalive did that to clients polling every 2 s: about one request in twenty sent 1.99-2.00 s
after the previous answer failed here. `[api] keepalive_timeout` (75 s) is longer than any
gap of 0-10 s, so every request of every gap below reuses its session's one connection.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.functional.test_processes import _split_deployment

SESSIONS = 10
# Gaps around gunicorn's former 2 s keepalive, where its close raced the client's next request
# (the server's timer starts a few milliseconds before the client has read the answer).
NEAR_OLD_LIMIT = [1.988 + 0.018 * i / (SESSIONS * 10 - 1) for i in range(SESSIONS * 10)]
# And one gap per session across the rest of 0-10 s (10 s: cheroot's former keepalive).
ACROSS_THE_RANGE = [0.0, 0.3, 1.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 10.0]


def _poll(endpoint: str, gaps: list[float], errors: list[str], connections: list[int]) -> None:
    """GET /v1/clusters once, then again after each gap, on one session."""
    session = requests.Session()
    url = endpoint + "/v1/clusters"
    session.get(url, timeout=30).raise_for_status()
    for gap in gaps:
        time.sleep(gap)
        try:
            answer = session.get(url, timeout=30)
        except requests.ConnectionError as err:
            errors.append(f"after {gap:.4f} s idle: {err}")
            continue
        if answer.status_code != 200:
            errors.append(f"after {gap:.4f} s idle: {answer.status_code} {answer.text[:200]}")
    pools = session.get_adapter(url).poolmanager.pools
    connections.append(sum(pools[key].num_connections for key in pools.keys()))
    session.close()


@pytest.mark.service
def test_polling_sessions_see_no_connection_error_with_idle_gaps_of_0_to_10_s(tmp_path):
    errors: list[str] = []
    connections: list[int] = []
    with _split_deployment(tmp_path) as deployment:
        deployment.start("magnum-lite-api")
        deployment.wait_until_serving()
        clients = [threading.Thread(target=_poll, args=(
            deployment.endpoint, NEAR_OLD_LIMIT[k::SESSIONS] + [ACROSS_THE_RANGE[k]], errors,
            connections)) for k in range(SESSIONS)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=120)
        log = deployment.log("magnum-lite-api")
    assert not any(client.is_alive() for client in clients)
    assert errors == [], "\n".join(errors)
    # Not one connection was closed by the server: each session kept its first one.
    assert connections == [1] * SESSIONS, log[-2000:]

