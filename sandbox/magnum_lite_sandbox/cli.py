"""magnum-lite-sandbox start|stop|status: one command for the whole sandbox cloud.

    magnum-lite-sandbox [--state-dir DIR] start|stop|status|freeze
    magnum-lite-sandbox [--state-dir DIR] fault never-ready NODE | fault clear [NODE]
    magnum-lite-sandbox [--state-dir DIR] fault stop NODE | fault start [NODE]
    magnum-lite-sandbox [--state-dir DIR] fault unreachable CLUSTER | fault reachable [CLUSTER]

`fault` plays a fault for failure tests and demos (see ``faults``): a node whose next boot
never comes up until cleared; a node's server shut off (Nova SHUTOFF, the node down in its
COE) until started; a cluster's COE API refusing connections until reachable again. NODE is
a server name (or a server id), CLUSTER a cluster uuid.

start is idempotent: what runs is left alone and what is set up is not set up again, so a
second start returns in a moment. Independent pieces start in parallel, and every wait is a
bounded poll of the component's HTTP endpoint. stop ends every process the sandbox started
(process groups, then anything still carrying the state dir's marker) and never the shared
PostgreSQL or RabbitMQ. Exit codes: 0 fine, 1 a component failed (or is down, for status),
2 the shared services are missing and cannot be installed here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from concurrent import futures
import contextlib
import fcntl
import json
from pathlib import Path
import signal
import sys
import threading
import time
from typing import Any

from magnum_lite_sandbox import (
    config,
    faults,
    heat,
    keystone,
    magnum,
    processes,
    services,
    venv,
)

# Seconds each readiness poll may take before start gives up on the component.
READY_TIMEOUT = 120
# Seconds between "still working" lines during a long step of start.
TICK_INTERVAL = 15.0
# Processes in the order stop ends them: clients of a service before the service.
STOP_ORDER = (magnum.AGENT, magnum.API, magnum.CONDUCTOR, magnum.CLOUD_API, heat.API,
              heat.ENGINE, keystone.NAME)
SIMULATION_STATE = "simulation.json"


def out(line: str) -> None:
    """A line on stdout (the CLI's output, not logging)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    out(f"sandbox: {message}")


@contextlib.contextmanager
def _start_lock(state_dir: Path) -> Iterator[None]:
    """One start or stop at a time per state dir (two test runs may race to start it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _ticking(what: Callable[[], str], every: float = TICK_INTERVAL) -> Iterator[None]:
    """Say what is still going on every `every` s, so that a long step does not look hung."""
    done = threading.Event()
    began = time.monotonic()

    def tick() -> None:
        while not done.wait(every):
            say(f"{what()} ({time.monotonic() - began:.0f} s so far)")

    thread = threading.Thread(target=tick, name="sandbox-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _packages_in(venv_dir: Path) -> int:
    """Packages installed in a venv so far (pip installs silently: this shows how far)."""
    return len(list(venv_dir.glob("lib/python*/site-packages/*.dist-info")))


def _wait(pid_name: str, state_dir: Path, check: Callable[[], bool], what: str) -> None:
    processes.wait_until(
        check, READY_TIMEOUT, f"{what} (log: {processes.log_path(state_dir, pid_name)})",
        pid_check=lambda: processes.read_pid(state_dir, pid_name) is not None)


def start(state_dir: Path) -> int:
    """Bring the sandbox up (or find it up); prints the status at the end."""
    t0 = time.monotonic()
    with _start_lock(state_dir):
        data = config.ensure(state_dir)
        # No shortcut when everything runs: the configs are still rendered and compared (that
        # is cheap), so a changed checkout restarts exactly the components it changed.
        try:
            _start(state_dir, data, t0)
        except services.ServiceError as exc:
            say(f"cannot start: {exc}")
            return 2
        except (processes.StartError, RuntimeError) as exc:
            say(f"start failed: {exc}")
            say("processes started so far are left running; `stop` ends them")
            return 1
    print_status(state_dir, data)
    return 0


def _start(state_dir: Path, data: dict[str, Any], t0: float) -> None:
    log = processes.log_path(state_dir, "setup")
    secrets = data["secrets"]
    services.precheck()

    def backing() -> tuple[str, str, str]:
        services.ensure_running(log, say)
        known = services.ready_urls(secrets)
        if known is not None:
            return known
        heat_db = services.ensure_database(config.HEAT_DB, config.HEAT_DB_USER,
                                           secrets["heat_db"], log)
        magnum_db = services.ensure_database(config.MAGNUM_DB, config.MAGNUM_DB_USER,
                                             secrets["magnum_db"], log)
        return heat_db, magnum_db, services.ensure_vhost(secrets["rabbit"], log)

    def sandbox_venv() -> None:
        if not venv.needs_build(state_dir, venv.wanted_digest()):
            return
        log = processes.log_path(state_dir, "venv")
        t = time.monotonic()
        say(f"creating the sandbox venv {venv.venv_dir(state_dir)} with Keystone and Heat "
            f"(a few minutes; log: {log})")
        with _ticking(lambda: f"still creating the sandbox venv: "
                              f"{_packages_in(venv.venv_dir(state_dir))} packages in it"):
            venv.ensure(state_dir, log)
        say(f"sandbox venv ready ({time.monotonic() - t:.1f} s)")

    with futures.ThreadPoolExecutor(max_workers=6) as pool:
        backing_f = pool.submit(backing)
        venv_f = pool.submit(sandbox_venv)
        cloud_f = pool.submit(_start_cloud_api, state_dir, data)
        # Keystone needs only the venv (SQLite); Heat needs both; magnum-lite the services.
        venv_f.result()
        keystone_f = pool.submit(_start_keystone, state_dir, data)
        heat_db, magnum_db, transport_url = backing_f.result()
        say(f"services and venv ready ({time.monotonic() - t0:.1f} s)")
        magnum_f = pool.submit(_start_magnum, state_dir, data, magnum_db, transport_url)
        heat_f = pool.submit(_start_heat, state_dir, data, heat_db, transport_url)
        # Every future is waited for, so a failure in one does not leave another unreported.
        errors = []
        starting = (("keystone", keystone_f), ("heat", heat_f), ("magnum-lite", magnum_f),
                    ("cloud-api", cloud_f))

        def pending() -> str:
            return "still starting " + ", ".join(name for name, fut in starting
                                                 if not fut.done())

        with _ticking(pending):
            for name, fut in starting:
                try:
                    fut.result()
                except Exception as exc:  # noqa: BLE001 - reported below, with the others
                    errors.append(f"{name}: {exc}")
        if errors:
            raise processes.StartError("; ".join(errors))
    # The agent acts for the sandbox's projects: it starts once Keystone has them.
    if magnum.start_optional(state_dir, magnum.AGENT) is None:
        say("magnum_lite_sandbox.agent not found: no guest agent (wait conditions will time out)")
    _write_clouds(state_dir, data)
    say(f"started in {time.monotonic() - t0:.1f} s")


def _start_keystone(state_dir: Path, data: dict[str, Any]) -> None:
    t = time.monotonic()
    changed = keystone.setup(state_dir, data)
    keystone.start(state_dir, restart=changed)
    _wait(keystone.NAME, state_dir, keystone.ready, "keystone")
    keystone.provision(data, say)
    say(f"keystone: up and provisioned ({time.monotonic() - t:.1f} s)")


def _start_heat(state_dir: Path, data: dict[str, Any], db_url: str, transport_url: str) -> None:
    t = time.monotonic()
    changed, simulation = heat.setup(state_dir, data, db_url, transport_url, say)
    config.write_private(state_dir / "heat" / SIMULATION_STATE,
                         json.dumps(simulation or {}) + "\n")
    heat.start_engine(state_dir, restart=changed)
    heat.start_api(state_dir, restart=changed)
    _wait(heat.API, state_dir, heat.api_ready, "heat-api")
    say(f"heat: up ({time.monotonic() - t:.1f} s)")


def _start_magnum(state_dir: Path, data: dict[str, Any], db_url: str,
                  transport_url: str) -> None:
    t = time.monotonic()
    changed = magnum.setup(state_dir, data, db_url, transport_url)
    magnum.start_conductor(state_dir, restart=changed)
    magnum.start_api(state_dir, restart=changed)
    _wait(magnum.API, state_dir, magnum.api_ready, "magnum-lite-api")
    say(f"magnum-lite: up ({time.monotonic() - t:.1f} s)")


def _start_cloud_api(state_dir: Path, data: dict[str, Any]) -> None:
    if magnum.start_optional(state_dir, magnum.CLOUD_API) is None:
        say("magnum_lite_sandbox.cloud_api not found: no cloud API stand-in "
            "(magnum-lite runs with [cloud] validate_resources = false)")
        return
    _wait(magnum.CLOUD_API, state_dir, lambda: magnum.cloud_api_ready(data), "cloud-api")


def _write_clouds(state_dir: Path, data: dict[str, Any]) -> None:
    config.write_private(state_dir / "clouds.yaml", config.clouds_yaml(data))


def component_rows(state_dir: Path, data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per component: name, where it answers, whether it is up, whether it is wanted."""
    def proc(name: str) -> bool:
        return processes.read_pid(state_dir, name) is not None

    cloud_urls = ", ".join(data["cloud_api"].values())
    return [
        {"name": "postgresql (shared)", "url": "127.0.0.1:5432", "wanted": True,
         "up": services.port_open(services.POSTGRES_PORT)},
        {"name": "rabbitmq (shared)", "url": f"127.0.0.1:5672 vhost {config.RABBIT_VHOST}",
         "wanted": True, "up": services.port_open(services.RABBIT_PORT)},
        {"name": "keystone", "url": data["keystone_url"], "wanted": True,
         "up": proc(keystone.NAME) and keystone.ready()},
        {"name": "heat-api", "url": data["heat_url"], "wanted": True,
         "up": proc(heat.API) and heat.api_ready()},
        {"name": "heat-engine", "url": "-", "wanted": True, "up": proc(heat.ENGINE)},
        {"name": "magnum-lite-api", "url": data["magnum_lite_url"], "wanted": True,
         "up": proc(magnum.API) and magnum.api_ready()},
        {"name": "magnum-lite-conductor", "url": "-", "wanted": True,
         "up": proc(magnum.CONDUCTOR)},
        {"name": "cloud-api", "url": cloud_urls,
         "wanted": magnum.optional_available(magnum.CLOUD_API),
         "up": proc(magnum.CLOUD_API) and magnum.cloud_api_ready(data)},
        {"name": "agent", "url": "-", "wanted": magnum.optional_available(magnum.AGENT),
         "up": proc(magnum.AGENT)},
    ]


def print_status(state_dir: Path, data: dict[str, Any]) -> bool:
    """Print each component up/down with its URL; True when every wanted one is up."""
    rows = component_rows(state_dir, data)
    for row in rows:
        state = "up" if row["up"] else ("down" if row["wanted"] else "absent (module missing)")
        out(f"  {row['name']:<24} {state:<8} {row['url']}")
    sim_file = state_dir / "heat" / SIMULATION_STATE
    if sim_file.exists():
        sim = json.loads(sim_file.read_text())
        out(f"  {'heat simulation':<24} {'on' if sim else 'off (module missing)'}")
    out(f"state: {state_dir}")
    out(f"export OS_CLIENT_CONFIG_FILE={state_dir / 'clouds.yaml'}   "
        "# then: openstack --os-cloud sandbox coe cluster template list")
    out("clouds: sandbox (user demo, project demo), sandbox-alt (alt_demo), "
        "sandbox-admin (admin, project admin)")
    return all(row["up"] for row in rows if row["wanted"])


def status(state_dir: Path) -> int:
    data = config.load(state_dir)
    if data is None:
        out(f"sandbox: not set up ({config.sandbox_json(state_dir)} missing)")
        return 1
    return 0 if print_status(state_dir, data) else 1


def stop(state_dir: Path) -> int:
    """End every sandbox process; shared services stay. 0 when nothing is left behind.

    Waits for a start in progress (the same lock), rather than killing it half way.
    """
    with _start_lock(state_dir):
        return _stop(state_dir)


def _stop(state_dir: Path) -> int:
    t = time.monotonic()
    # The clients (agent, magnum-lite) first, so they do not log errors about the services.
    stopped = processes.stop_many(state_dir, STOP_ORDER[:4])
    stopped += processes.stop_many(state_dir, STOP_ORDER[4:])
    if stopped:
        say(f"stopped {', '.join(stopped)} ({time.monotonic() - t:.1f} s)")
    strays = processes.stop_strays(state_dir)
    if strays:
        say(f"ended {len(strays)} stray process(es): {strays}")
    left = processes.marked_pids(state_dir)
    if left:
        say(f"still running: {left}")
        return 1
    say("stopped (PostgreSQL and RabbitMQ are shared and left running)")
    return 0


def freeze(state_dir: Path) -> int:
    """Rewrite constraints.txt from the sandbox venv (after changing requirements.txt)."""
    venv.CONSTRAINTS.write_text("# pip freeze of the sandbox venv; regenerate with `freeze`.\n"
                                + venv.freeze(state_dir))
    say(f"wrote {venv.CONSTRAINTS}")
    return 0


FAULT_USAGE = ("usage: magnum-lite-sandbox fault never-ready NODE | clear [NODE] | stop NODE | "
               "start [NODE] | unreachable CLUSTER | reachable [CLUSTER]")


def fault(state_dir: Path, args: list[str]) -> int:
    """Names a fault in the state dir (or lifts it); the agent plays it on its next sweep.
    A node to stop is looked up among the servers the agent last saw (1 if unknown)."""
    verb, rest = (args[0], args[1:]) if args else ("", [])
    one = rest[0] if rest else None
    needs_one = verb in ("never-ready", "stop", "unreachable")
    if verb not in ("never-ready", "clear", "stop", "start", "unreachable", "reachable") \
            or len(rest) > 1 or needs_one and one is None:
        out(FAULT_USAGE)
        return 2
    if verb in ("never-ready", "clear"):
        held = faults.never_ready(one, state_dir) if verb == "never-ready" else \
            faults.clear(one, state_dir)
        say(f"never-ready: {', '.join(held) if held else 'none'}")
    elif verb in ("stop", "start"):
        try:
            stopped = faults.stop(one, state_dir) if verb == "stop" else \
                faults.start(one, state_dir)
        except (LookupError, ValueError) as exc:
            say(f"cannot stop {one}: {exc.args[0]}")
            return 1
        shown = [f"{name or '?'} ({sid})" for sid, name in sorted(stopped.items(),
                                                                  key=lambda i: i[1])]
        say(f"stopped: {', '.join(shown) if shown else 'none'}")
    else:
        cut = faults.unreachable(one, state_dir) if verb == "unreachable" else \
            faults.reachable(one, state_dir)
        say(f"unreachable: {', '.join(cut) if cut else 'none'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="magnum-lite-sandbox", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="state directory (default: $MAGNUM_LITE_SANDBOX_DIR or "
                             "~/.local/share/magnum-lite/sandbox)")
    parser.add_argument("command", choices=("start", "stop", "status", "freeze", "fault"))
    parser.add_argument("args", nargs="*", help="fault: never-ready NODE | clear [NODE] | "
                        "stop NODE | start [NODE] | unreachable CLUSTER | reachable [CLUSTER]")
    args = parser.parse_args(argv)
    # Output piped into `head` ends quietly, as other command line tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    state_dir = (args.state_dir.expanduser().resolve() if args.state_dir
                 else config.default_state_dir())
    if args.command == "fault":
        return fault(state_dir, args.args)
    if args.args:
        parser.error(f"{args.command} takes no arguments")
    commands = {"start": start, "stop": stop, "status": status, "freeze": freeze}
    return commands[args.command](state_dir)


if __name__ == "__main__":
    sys.exit(main())
