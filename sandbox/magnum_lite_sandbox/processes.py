"""Starting, finding and stopping the sandbox's own processes.

Each component runs in its own session (so its process group is its pid, and gunicorn workers
or heat-engine children go with it), with a pid file under `<state>/run` and a log under
`<state>/log`. Every process also carries MAGNUM_LITE_SANDBOX_DIR=<state> in its environment:
stop looks for that marker in /proc as well, so nothing the sandbox started is left behind even
when a pid file was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
import os
from pathlib import Path
import signal
import subprocess
import time
import urllib.error
import urllib.request

MARKER_ENV = "MAGNUM_LITE_SANDBOX_DIR"


class StartError(RuntimeError):
    """A component did not come up; the message names it and its log."""


def run_dir(state_dir: Path) -> Path:
    return state_dir / "run"


def log_path(state_dir: Path, name: str) -> Path:
    return state_dir / "log" / f"{name}.log"


def pid_file(state_dir: Path, name: str) -> Path:
    return run_dir(state_dir) / f"{name}.pid"


def alive(pid: int) -> bool:
    """True when `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def read_pid(state_dir: Path, name: str) -> int | None:
    """The pid of a running component, or None (a stale pid file is removed)."""
    path = pid_file(state_dir, name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if alive(pid):
        return pid
    path.unlink(missing_ok=True)
    return None


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the sandbox's processes and setup commands.

    Bytecode is always written: the sandbox venv is installed without it (faster), and with
    PYTHONDONTWRITEBYTECODE inherited every start would compile Keystone and Heat anew.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra or {})
    return env


def spawn(state_dir: Path, name: str, argv: Sequence[str], env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start `argv` in a new session, detached, logging to <state>/log/<name>.log."""
    log = log_path(state_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    run_dir(state_dir).mkdir(parents=True, exist_ok=True)
    full_env = sandbox_env(env)
    full_env[MARKER_ENV] = str(state_dir)
    with open(log, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - argv built by the sandbox
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=full_env, cwd=str(cwd or state_dir), start_new_session=True, close_fds=True)
    pid_file(state_dir, name).write_text(f"{proc.pid}\n")
    return proc.pid


def ensure(state_dir: Path, name: str, argv: Sequence[str], env: dict[str, str] | None = None,
           restart: bool = False) -> int:
    """The pid of component `name`: the running one, or a new one (restarted on request)."""
    if restart:
        stop(state_dir, name)
    pid = read_pid(state_dir, name)
    if pid is not None:
        return pid
    return spawn(state_dir, name, argv, env=env)


def http_ok(url: str, timeout: float = 2.0, accept: Callable[[int], bool] | None = None) -> bool:
    """True when `url` answers with a status that `accept` takes (default: below 500)."""
    accept = accept or (lambda status: status < 500)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return accept(resp.status)
    except urllib.error.HTTPError as exc:
        return accept(exc.code)
    except (OSError, ValueError):
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               pid_check: Callable[[], bool] | None = None, interval: float = 0.1) -> None:
    """Poll `check` until true; StartError after `timeout` s or when `pid_check` says dead.

    The interval grows from 0.1 s to 0.5 s: quick for fast components, cheap for slow ones.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if pid_check is not None and not pid_check():
            raise StartError(f"{what}: the process exited")
        if time.monotonic() > deadline:
            raise StartError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def marked_pids(state_dir: Path) -> list[int]:
    """Pids of processes whose environment carries this state dir's marker."""
    marker = f"{MARKER_ENV}={state_dir}".encode()
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return [pid for pid in found if alive(pid)]


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop(state_dir: Path, name: str, grace: float = 10.0) -> bool:
    """SIGTERM the component's process group, SIGKILL after `grace` s; True if it was running."""
    return bool(stop_many(state_dir, [name], grace))


def stop_many(state_dir: Path, names: Sequence[str], grace: float = 10.0) -> list[str]:
    """Stop several components at once (all SIGTERMed together, so the waits overlap).

    Returns the names that were running. A group still alive after `grace` s is SIGKILLed.
    """
    running: dict[str, int] = {}
    for name in names:
        pid = read_pid(state_dir, name)
        pid_file(state_dir, name).unlink(missing_ok=True)
        if pid is not None:
            running[name] = pid
            _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    pending = dict(running)
    while pending and time.monotonic() < deadline:
        pending = {n: p for n, p in pending.items() if alive(p) or _group_members(p)}
        if pending:
            time.sleep(0.1)
    for pid in pending.values():
        _signal_group(pid, signal.SIGKILL)
    return list(running)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    members.append(int(entry.name))
    return members


def stop_strays(state_dir: Path, grace: float = 5.0) -> list[int]:
    """Kill every process still marked with this state dir; returns the pids found."""
    pids = marked_pids(state_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return pids
