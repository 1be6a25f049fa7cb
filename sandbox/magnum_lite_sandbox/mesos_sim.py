"""The simulated Mesos cluster behind the sandbox's Mesos master API (``mesos_api``).

What a drain needs a Mesos cluster to be, with mesos-master's maintenance primitives:

- agents: one per worker server (``cluster_sim``), registered with the version its own boot
  runs (``version``). While its server is rebuilt (``boots``) the agent is disconnected
  (``active`` false); the new boot registers a new agent (a new agent ID, as a rebuilt
  machine's empty work directory makes it, and a rebooted one's new boot ID). An agent
  inactive for ``unreachable_seconds`` (75: ``--agent_ping_timeout`` 15 s times
  ``--max_agent_ping_timeouts`` 5, mesos-master's defaults), e.g. one whose server was
  stopped (``faults``), is marked unreachable: gone from the agents, counted in
  ``unreachable_slaves``;
- maintenance: ``POST /master/maintenance/schedule`` replaces the schedule (windows of
  ``machine_ids`` {hostname, ip} with an ``unavailability``); a machine entering it is
  DRAINING (no new tasks go there), one leaving it while DRAINING is UP again.
  ``POST /master/machine/down`` takes DRAINING machines DOWN: their agents are removed and
  their tasks lost, and an agent on a DOWN machine cannot register (so a node rebuilt while
  DOWN comes back only after ``machine/up``). ``POST /master/machine/up`` brings DOWN
  machines UP and removes them from the schedule. Each is validated with mesos-master's
  rules and messages (400 Bad Request). A machine ID matches an agent when both its
  hostname (the agent's, which is the node's private address; case-insensitive) and its ip
  are the agent's, as Mesos compares them; other IDs are accepted and apply to no agent;
- a workload: Marathon's app ``/demo`` of ``replica_count`` (3) tasks on active agents of UP
  machines (Marathon's ``maintenance_mode`` feature declines the offers of DRAINING ones);
  tasks of an agent removed or disconnected are lost and launched again elsewhere
  (TASK_STAGING for ``workload.START_SECONDS``, then TASK_RUNNING); a task killed through
  Marathon's API without scaling (``kill``) is replaced the same way;
- the timeline: cordoned (a machine enters the schedule), uncordoned (it leaves it, or comes
  UP), down / up with reason ``maintenance``, task killed / lost / scheduled / started, and
  the nodes' own up and down.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import datetime
import ipaddress
import json
import time
from typing import Any
import uuid

from magnum_lite_sandbox import boots, cluster_sim, workload

DRAINING, DOWN = "DRAINING", "DOWN"
APP = "demo"
#: Marathon's id of the workload's app (a path).
APP_ID = f"/{APP}"
IDENTITIES = uuid.UUID("6f1d2c3b-4a5e-4f60-8b7c-9d0e1f2a3b4c")  # uuid5 of Mesos identities


class MaintenanceError(ValueError):
    """A request mesos-master refuses with 400 Bad Request (its message)."""


class MarathonError(ValueError):
    """A request Marathon refuses: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Agent:
    """A registered agent."""

    seq: int
    registered: float
    version: str
    active: bool = True
    inactive_since: float | None = None


def master_id(cluster_uuid: str) -> str:
    return str(uuid.uuid5(IDENTITIES, f"{cluster_uuid}/master"))


def host(node: cluster_sim.Node) -> str:
    """The node's Mesos hostname: its private address (MESOS_HOSTNAME), else its name."""
    return node.internal_ip or node.name


def machine_of(node: cluster_sim.Node) -> tuple[str, str]:
    """The agent's machine: its hostname and the ip of its pid."""
    return host(node).lower(), node.internal_ip


def _machine_key(machine: dict) -> tuple[str, str]:
    return str(machine.get("hostname", "")).lower(), str(machine.get("ip", ""))


def _show(machine: dict) -> str:
    """A machine ID as mesos-master's messages print it (compact JSON)."""
    return json.dumps({k: machine[k] for k in ("hostname", "ip") if machine.get(k)},
                      separators=(",", ":"))


def _machine(value: Any) -> dict:
    """One MachineID of a request, checked as mesos-master checks it."""
    if not isinstance(value, dict):
        raise MaintenanceError("Expecting a JSON object for a MachineID")
    machine = {k: str(value[k]) for k in ("hostname", "ip") if value.get(k)}
    if not machine:
        raise MaintenanceError("Both 'hostname' and 'ip' for a machine must not be empty")
    if "ip" in machine:
        try:
            ipaddress.IPv4Address(machine["ip"])
        except ValueError:
            raise MaintenanceError(f"Failed to parse IP address '{machine['ip']}'") from None
    return machine


def _machines(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise MaintenanceError("Expecting a JSON array of MachineIDs")
    if not value:
        raise MaintenanceError("List of machines is empty")
    machines, seen = [], set()
    for item in value:
        machine = _machine(item)
        if _machine_key(machine) in seen:
            raise MaintenanceError(f"Machine '{_show(machine)}' appears more than once in "
                                   "the list")
        seen.add(_machine_key(machine))
        machines.append(machine)
    return machines


def _nanoseconds(value: Any, what: str, required: bool) -> dict | None:
    if value is None and not required:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("nanoseconds"), int):
        raise MaintenanceError(f"Missing required fields: {what}.nanoseconds")
    return {"nanoseconds": value["nanoseconds"]}


def _windows(schedule: Any) -> list[dict]:
    """The windows of a posted schedule, checked as mesos-master checks them."""
    if not isinstance(schedule, dict):
        raise MaintenanceError("Expecting a JSON object for a maintenance schedule")
    windows, seen = [], set()
    for window in schedule.get("windows") or []:
        if not isinstance(window, dict):
            raise MaintenanceError("Expecting a JSON object for a maintenance window")
        ids = window.get("machine_ids") or []
        if not ids:
            raise MaintenanceError("List of machines in the maintenance window is empty")
        unavailability = window.get("unavailability")
        if not isinstance(unavailability, dict):
            raise MaintenanceError("Missing required fields: unavailability")
        start = _nanoseconds(unavailability.get("start"), "unavailability.start", True)
        duration = _nanoseconds(unavailability.get("duration"), "unavailability.duration",
                                False)
        if duration is not None and duration["nanoseconds"] < 0:
            raise MaintenanceError("Unavailability 'duration' is negative")
        machines = []
        for item in ids if isinstance(ids, list) else [ids]:
            machine = _machine(item)
            if _machine_key(machine) in seen:
                raise MaintenanceError(f"Machine '{_show(machine)}' appears more than once in "
                                       "the schedule")
            seen.add(_machine_key(machine))
            machines.append(machine)
        windows.append({"machine_ids": machines, "unavailability": {
            "start": start, **({"duration": duration} if duration is not None else {})}})
    return windows


class MesosSim(cluster_sim.ClusterSim):
    """Agents, maintenance and Marathon's tasks (see the module docstring)."""

    replica_word = "task"
    #: Seconds an agent stays inactive before the master marks it unreachable.
    unreachable_seconds = 75.0

    def __init__(self, view: Any, clock: Callable[[], float] = time.time) -> None:
        self.agents: dict[str, Agent] = {}       # by node name
        self.modes: dict[tuple[str, str], str] = {}  # machines in the schedule: their mode
        self.windows: list[dict] = []
        self.shown: dict[tuple[str, str], dict] = {}  # machine IDs as posted
        self.agent_seq = 0
        self.unreachable = 0  # agents marked unreachable
        super().__init__(view, clock)

    # -- ClusterSim --------------------------------------------------------------------------
    def default_version(self) -> str:
        return self.view.mesos_version

    def replica_name(self, serial: int) -> str:
        return f"{APP}.{uuid.uuid5(IDENTITIES, f'{self.view.cluster_uuid}/task/{serial}')}"

    def mode(self, name: str) -> str:
        node = self.node(name)
        return self.modes.get(machine_of(node), "UP") if node is not None else "UP"

    def ready(self, name: str) -> bool:
        node = self.node(name)
        if node is not None and node.role != "master":
            agent = self.agents.get(name)
            return agent is not None and agent.active
        return super().ready(name)

    def schedulable(self, name: str) -> bool:
        return self.mode(name) == "UP"

    def on_change(self, change: boots.Change) -> str | None:
        node = self.node(change.name)
        if change.event == "removed" or node is None:
            self.agents.pop(change.name, None)
            return change.event
        if node.role == "master":
            return change.event
        if change.event == "down":
            agent = self.agents.get(change.name)
            if agent is None or not agent.active:
                return None  # no agent to lose (e.g. its machine is DOWN)
            agent.active, agent.inactive_since = False, change.time
            return change.event
        if self.mode(change.name) == DOWN:
            self.agents.pop(change.name, None)
            return None  # refused: an agent on a DOWN machine may not register
        self._register(change.name, change.time)
        return change.event

    def settle(self) -> None:
        for name, agent in list(self.agents.items()):
            if agent.inactive_since is not None and \
                    self.now - agent.inactive_since >= self.unreachable_seconds:
                del self.agents[name]  # its tasks were lost when it went inactive
                self.unreachable += 1

    # -- agents ----------------------------------------------------------------------------
    def _register(self, name: str, when: float) -> None:
        self.agents[name] = Agent(seq=self.agent_seq, registered=when,
                                  version=self.version(name))
        self.agent_seq += 1

    def agent_list(self) -> list[tuple[cluster_sim.Node, Agent]]:
        """The registered agents, in node order."""
        with self.lock:
            self._advance(self.clock())
            return [(n, self.agents[n.name]) for n in self.view.nodes if n.name in self.agents]

    def agent_id(self, agent: Agent) -> str:
        return f"{master_id(self.view.cluster_uuid)}-S{agent.seq}"

    # -- maintenance -----------------------------------------------------------------------
    def schedule(self) -> dict:
        """GET /master/maintenance/schedule ({} when there is none, as Mesos shows it)."""
        with self.lock:
            return {"windows": json.loads(json.dumps(self.windows))} if self.windows else {}

    def status(self) -> dict:
        """GET /master/maintenance/status: the machines by mode (empty lists left out)."""
        with self.lock:
            draining = [{"id": self.shown[k]} for k, m in self.modes.items() if m == DRAINING]
            down = [self.shown[k] for k, m in self.modes.items() if m == DOWN]
            return {**({"draining_machines": draining} if draining else {}),
                    **({"down_machines": down} if down else {})}

    def update_schedule(self, body: Any) -> None:
        """POST /master/maintenance/schedule; MaintenanceError when refused."""
        with self.lock:
            self._advance(self.clock())
            windows = _windows(body)
            wanted = {_machine_key(m): m for w in windows for m in w["machine_ids"]}
            for key, mode in self.modes.items():
                if mode == DOWN and key not in wanted:
                    raise MaintenanceError(f"Machine '{_show(self.shown[key])}' is deactivated "
                                           "and cannot be removed from the schedule")
            left = [k for k in self.modes if k not in wanted]
            entering = [k for k in wanted if k not in self.modes]
            for key in left:
                del self.modes[key]
                self.shown.pop(key, None)
            for key in entering:
                self.modes[key] = DRAINING
            self.shown.update(wanted)
            self.windows = windows
            for key in left:
                self._record_machine(key, "uncordoned")
            for key in entering:
                self._record_machine(key, "cordoned")
            self._advance(self.now)

    def machines_down(self, body: Any) -> None:
        """POST /master/machine/down; MaintenanceError when refused."""
        with self.lock:
            self._advance(self.clock())
            keys = self._scheduled(body, DRAINING, "cannot be brought down")
            for key in keys:
                self.modes[key] = DOWN
                for name in self._nodes_on(key):
                    if self.agents.pop(name, None) is not None:
                        self.record(name, "down", reason="maintenance")
            self._advance(self.now)

    def machines_up(self, body: Any) -> None:
        """POST /master/machine/up; MaintenanceError when refused."""
        with self.lock:
            self._advance(self.clock())
            keys = self._scheduled(body, DOWN, "cannot be brought up")
            for key in keys:
                del self.modes[key]
                self.shown.pop(key, None)
            for window in self.windows:
                window["machine_ids"] = [m for m in window["machine_ids"]
                                         if _machine_key(m) not in keys]
            self.windows = [w for w in self.windows if w["machine_ids"]]
            for key in keys:
                for name in self._nodes_on(key):
                    self.record(name, "uncordoned")
                    boot = self.boots.get(name)
                    if boot is not None and boot.ready:
                        self._register(name, self.now)
                        self.record(name, "up", reason="maintenance")
            self._advance(self.now)

    def _scheduled(self, body: Any, mode: str, cannot: str) -> list[tuple[str, str]]:
        keys = []
        for machine in _machines(body):
            key = _machine_key(machine)
            if key not in self.modes:
                raise MaintenanceError(f"Machine '{_show(machine)}' is not part of a "
                                       "maintenance schedule")
            if self.modes[key] != mode:
                raise MaintenanceError(f"Machine '{_show(machine)}' is not in {mode} mode "
                                       f"and {cannot}")
            keys.append(key)
        return keys

    def _nodes_on(self, key: tuple[str, str]) -> list[str]:
        return [n.name for n in self.view.nodes if n.role != "master" and machine_of(n) == key]

    def _record_machine(self, key: tuple[str, str], event: str) -> None:
        for name in self._nodes_on(key):
            self.record(name, event)

    # -- Marathon's tasks --------------------------------------------------------------------
    def tasks(self, framework_id: str) -> tuple[list[dict], list[dict]]:
        """(running or staging tasks, completed tasks) of Marathon, as /master/state shows
        them in its framework."""
        with self.lock:
            self._advance(self.clock())
            current = [self._task(r, framework_id) for r in self.workload.replicas
                       if r.node is not None and r.node in self.agents]
            done = [self._task(r, framework_id, why, when)
                    for r, why, when in self.workload.removed[-20:]]
            return current, done

    def _task(self, replica: workload.Replica, framework_id: str, gone: str | None = None,
              when: float | None = None) -> dict:
        if gone is not None:
            state = "TASK_LOST" if gone == "lost" else "TASK_KILLED"
            changed = when or self.now
        elif replica.running(self.now):
            state, changed = "TASK_RUNNING", replica.running_at or self.now
        else:
            state, changed = "TASK_STAGING", replica.scheduled_at or self.now
        agent = self.agents.get(replica.node or "")
        statuses = [{"state": "TASK_STAGING", "timestamp": replica.scheduled_at or changed}]
        if state != "TASK_STAGING":
            statuses.append({"state": state, "timestamp": changed})
        return {"id": replica.name, "name": APP, "framework_id": framework_id,
                "executor_id": "", "slave_id": self.agent_id(agent) if agent else "",
                "state": state, "role": "*",
                "resources": {"cpus": 0.1, "mem": 32.0, "disk": 0.0, "gpus": 0.0},
                "statuses": statuses}

    # -- Marathon's API ----------------------------------------------------------------------
    def marathon_tasks(self) -> list[dict]:
        """The app's tasks as Marathon's /v2/tasks and /v2/apps?embed=apps.tasks show them:
        launched ones only (a replacement Marathon has no offer for yet is not listed)."""
        with self.lock:
            self._advance(self.clock())
            return [self._marathon_task(r) for r in self.workload.replicas
                    if r.node is not None and r.node in self.agents]

    def marathon_app(self) -> dict:
        """The app as Marathon's /v2/apps shows it (with its tasks: embed=apps.tasks)."""
        with self.lock:
            tasks = self.marathon_tasks()
            running = sum(1 for t in tasks if t["state"] == "TASK_RUNNING")
            return {"id": APP_ID, "cmd": "python3 -m http.server $PORT0", "instances":
                    self.workload.size, "cpus": 0.1, "mem": 32.0, "disk": 0.0,
                    "healthChecks": [], "tasksRunning": running,
                    "tasksStaged": len(tasks) - running, "tasksHealthy": 0,
                    "tasksUnhealthy": 0, "deployments": [], "tasks": tasks}

    def kill(self, body: Any) -> list[dict]:
        """POST /v2/tasks/delete?scale=false: each listed task of the app is killed (Mesos'
        TASK_KILLED) and Marathon launches a replacement where offers allow; ids of tasks
        it does not know are left out of the answer. MarathonError when refused."""
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise MarathonError(422, "Object is not valid: /ids: error.expected.jsarray")
        with self.lock:
            self._advance(self.clock())
            for task_id in ids:
                app = "/" + task_id.rpartition(".")[0]
                if app != APP_ID:
                    raise MarathonError(404, f"App '{app}' does not exist")
            killed = []
            for replica in [r for r in self.workload.replicas if r.name in ids
                            and r.node is not None and r.node in self.agents]:
                task = self._marathon_task(replica)
                killed.append(task)
                self.workload.remove(replica, self.now, "killed")
                self.record(replica.node or "", f"{self.replica_word} killed",
                            **{self.replica_word: replica.name})
            self._advance(self.now)
            return killed

    def _marathon_task(self, replica: workload.Replica) -> dict:
        node = self.node(replica.node or "")
        agent = self.agents.get(replica.node or "")
        running = replica.running(self.now)
        task = {"id": replica.name, "appId": APP_ID, "host": host(node) if node else "",
                "slaveId": self.agent_id(agent) if agent else "",
                "state": "TASK_RUNNING" if running else "TASK_STAGING",
                "stagedAt": _iso(replica.scheduled_at or self.now), "ports": [31000],
                "ipAddresses": [{"ipAddress": node.internal_ip, "protocol": "IPv4"}]
                if node and node.internal_ip else [],
                "version": _iso(replica.created)}
        if running:
            task["startedAt"] = _iso(replica.running_at or self.now)
        return task


def _iso(epoch: float) -> str:
    """Marathon's timestamps: ISO 8601 in UTC with milliseconds."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
