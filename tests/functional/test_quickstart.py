"""tools/quickstart.sh looks at what answers on its port before using it.

A Keystone-protected API there (the sandbox's magnum-lite-api answers 401 without a token) is
left alone: quickstart says so and starts magnum-lite-all on a free port. A second run finds the
magnum-lite-all it started and uses it again.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import http.server
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import threading
import time

from tests.functional import deployment as dep

REPO = pathlib.Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "tools" / "quickstart.sh"


class _KeystoneProtected(http.server.BaseHTTPRequestHandler):
    """What an API behind keystonemiddleware answers without a token."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b'{"error": {"code": 401, "title": "Unauthorized"}}'
        self.send_response(401)
        self.send_header("WWW-Authenticate", "Keystone uri='http://127.0.0.1:5000'")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _port_with_a_free_neighbour() -> int:
    """A port below the kernel's ephemeral range whose next port is free too.

    quickstart moves to the next free port; in the ephemeral range that port can be taken by
    any test's outgoing connection between quickstart's look and magnum-lite-all's bind.
    """
    first = random.randrange(20000, 30000)
    for port in range(first, first + 500):
        if _bindable(port) and _bindable(port + 1):
            return port
    raise RuntimeError(f"no two free ports in a row from {first}")


@contextlib.contextmanager
def _keystone_protected_api() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _port_with_a_free_neighbour()),
                                             _KeystoneProtected)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _quickstart(home: pathlib.Path, port: int) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(HOME=str(home), MAGNUM_LITE_PORT=str(port),
               MAGNUM_LITE_QUICKSTART_SKIP_INSTALL="1")
    return subprocess.run(["bash", str(QUICKSTART)], env=env, capture_output=True, text=True,
                          timeout=300)


def _listed(output: str) -> str:
    """What `openstack coe cluster template list` printed in quickstart's output."""
    return output.split("] openstack coe cluster template list\n")[1].split("\n\n")[0]


def _stop(pid_file: pathlib.Path) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + dep.STOP_TIMEOUT
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)


def test_quickstart_leaves_a_keystone_api_alone_and_reuses_its_own_server(tmp_path):
    pid_file = tmp_path / ".local/share/magnum-lite/magnum-lite-all.pid"
    with _keystone_protected_api() as taken:
        try:
            first = _quickstart(tmp_path, taken)
            second = _quickstart(tmp_path, taken)
        finally:
            _stop(pid_file)
    assert first.returncode == 0, first.stdout + first.stderr
    moved = re.search(rf"port {taken} is taken by an API that wants a Keystone token .*"
                      r"magnum-lite-all goes to free port (\d+) instead", first.stdout)
    assert moved, first.stdout
    port = int(moved.group(1))
    assert port != taken
    assert f"starting magnum-lite-all on 127.0.0.1:{port}" in first.stdout
    assert "quickstart-k8s" in _listed(first.stdout)
    assert f"answers on http://127.0.0.1:{port}/" in first.stdout

    assert second.returncode == 0, second.stdout + second.stderr
    pid = pid_file.read_text().strip()
    assert (f"magnum-lite-all started by an earlier quickstart run (pid {pid}) answers on "
            f"port {port}: using it") in second.stdout
    assert "starting magnum-lite-all" not in second.stdout
    assert "quickstart-k8s" in _listed(second.stdout)
