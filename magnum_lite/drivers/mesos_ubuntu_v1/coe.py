"""A Mesos cluster's agents through the leading master's HTTP API, for a rolling upgrade's
drain, with Mesos' maintenance primitives and Marathon's API.

Draining a node schedules a maintenance window for its machine (hostname and IP, as the agent
registered; the other windows of the schedule are kept, since a POST replaces the whole
schedule): the master marks it DRAINING, frameworks get inverse offers and no new work lands
there (Marathon declines a DRAINING machine's offers: boot/mesos-master.sh enables its
``maintenance_mode`` feature). Marathon moves nothing on an inverse offer by itself, so the
drain moves its tasks the way an operator would, one at a time per app: a task of an app on a
draining agent is killed through Marathon's API without scaling the app down (``POST
/v2/tasks/delete?scale=false``), Marathon launches its replacement on an agent in no
maintenance, and the next task of that app is killed only once the replacement runs. A task
is killed only while its app has another task running (and healthy, where the app has health
checks) and none staging or starting, and Marathon has launched every instance the app asks
for: the app never loses its last running task to the drain. The machine is taken down (POST
/master/machine/down: the agent is told to shut down and leaves the master) once no task runs
on it; or, as the last resort, once its window has started (DRAIN_GRACE after the first
round): then the tasks left, of other frameworks or of an app with one instance, are lost and
rescheduled elsewhere by their frameworks. Uncordoning brings the machines up (POST
/master/machine/up, which also removes them from the schedule) or, for one still draining,
removes its window.

Agents register by their private IP (MESOS_HOSTNAME), so the boot script gives each agent the
attribute NODE_ATTRIBUTE with its server name, and a node is found by it (by its hostname
where an agent has none). A machine that is down has left the master and with it that tie:
uncordoning a name the master no longer lists brings up every down machine that no agent
registers from, which magnum-lite takes down only within the one batch it upgrades.

The master's read-write endpoints need HTTP basic authentication (--authenticate_http_readwrite)
as the operator principal, whose secret derives from the cluster's join token; client
certificates are not asked for. A standby master answers 307 to the leader, which is
followed (its certificate, from the same CA, names its private address). Marathon runs on
every master and serves HTTPS only, on userdata.MARATHON_PORT of the same host as the API
(the API load balancer forwards it too; a standby Marathon proxies to the leading one), with
the master's certificate and the same operator credentials (--http_credentials). A Marathon
that does not answer (a cluster booted before it served HTTPS) moves nothing: the grace is
then all the tasks get.
"""

from __future__ import annotations

from collections.abc import Iterable
import time
from typing import Any

from oslo_log import log as logging

from magnum_lite.common import exception
from magnum_lite.drivers import base, coe_http
from magnum_lite.drivers.mesos_ubuntu_v1 import userdata

LOG = logging.getLogger(__name__)

COE = "Mesos"
#: The agent attribute that names the node's server (set by boot/mesos-agent.sh).
NODE_ATTRIBUTE = userdata.NODE_NAME_ATTRIBUTE
#: How long a draining machine's tasks get before it is taken down anyway.
DRAIN_GRACE = 300
#: The unavailability a window announces (an estimate; Mesos never acts on it).
WINDOW = 3600
#: Task states of a task that runs or is about to.
LIVE_TASK_STATES = frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING",
                              "TASK_KILLING"})
#: Marathon's task states of a task that runs (the others are on their way or going).
MARATHON_RUNNING = "TASK_RUNNING"
_NS = 1_000_000_000

Machine = tuple[str, str]  # (hostname in lower case, ip)


def _machine_id(machine: Machine) -> dict[str, str]:
    hostname, ip = machine
    return {"hostname": hostname, "ip": ip} if ip else {"hostname": hostname}


def _machine_of(value: Any) -> Machine | None:
    """A MachineID ({"hostname", "ip"}) as a comparable pair."""
    if not isinstance(value, dict):
        return None
    return (str(value.get("hostname") or "").lower(), str(value.get("ip") or ""))


def _agent_ip(agent: dict[str, Any]) -> str:
    """The IP the agent registered from: its libprocess pid is slave(1)@<ip>:<port>."""
    pid = str(agent.get("pid") or "")
    return pid.rpartition("@")[2].rpartition(":")[0]


class _Agent:
    """One registered agent and the node it is."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.id = str(raw.get("id") or "")
        hostname = str(raw.get("hostname") or "")
        attributes = raw.get("attributes") or {}
        self.name = str(attributes.get(NODE_ATTRIBUTE) or hostname)
        self.machine: Machine = (hostname.lower(), _agent_ip(raw))
        self.active = bool(raw.get("active"))
        self.version = raw.get("version")
        self.live_tasks = 0


class MesosNodes(base.CoeNodes):
    """The agents of one Mesos cluster, through its masters' API."""

    def __init__(self, api_address: str | None, credentials: base.CredentialsLoader, *,
                 timeout: float | None = None, drain_grace: float = DRAIN_GRACE,
                 clock: Any = time.time, marathon_port: int = userdata.MARATHON_PORT) -> None:
        self._api_address = api_address
        self._marathon_port = marathon_port
        self._credentials = credentials
        self._timeout = timeout
        self._grace = drain_grace
        self._clock = clock
        self._client: coe_http.CoeHttpClient | None = None
        self._marathon_client: coe_http.CoeHttpClient | None = None

    def _client_at(self, address: str | None, port: int, **kwargs: Any
                   ) -> coe_http.CoeHttpClient:
        """A client of the cluster CA with the operator's basic authentication."""
        loaded = self._credentials()
        if not loaded.join_token:
            raise exception.CoeError(coe=COE, reason="the cluster has no join token, "
                                                     "which its operator secret derives from")
        secret = userdata.secret(loaded.join_token, userdata.ADMIN_PRINCIPAL)
        return coe_http.CoeHttpClient(
            COE, address, lambda: coe_http.cluster_ca(lambda: loaded, COE),
            default_port=port, timeout=self._timeout,
            headers={"Authorization": coe_http.basic_auth(userdata.ADMIN_PRINCIPAL, secret)},
            **kwargs)

    @property
    def _api(self) -> coe_http.CoeHttpClient:
        if self._client is None:
            self._client = self._client_at(self._api_address, userdata.API_PORT,
                                           follow_redirects=True)
        return self._client

    @property
    def _marathon(self) -> coe_http.CoeHttpClient:
        """Marathon's API: the API's host at Marathon's port."""
        if self._marathon_client is None:
            host = self._api.host
            host = f"[{host}]" if ":" in host else host
            self._marathon_client = self._client_at(
                f"https://{host}:{self._marathon_port}", self._marathon_port)
        return self._marathon_client

    # -- reads --------------------------------------------------------------------------------

    def _agents(self) -> dict[str, _Agent]:
        """The registered agents by node name, each with its count of live tasks."""
        state = self._api.get_json("/master/state")
        if not isinstance(state, dict):
            raise exception.CoeError(coe=COE, reason="GET /master/state: not an object")
        agents = [_Agent(a) for a in state.get("slaves") or [] if isinstance(a, dict)]
        by_id = {a.id: a for a in agents}
        for framework in state.get("frameworks") or []:
            for task in (framework or {}).get("tasks") or []:
                agent = by_id.get((task or {}).get("slave_id"))
                if agent is not None and task.get("state") in LIVE_TASK_STATES:
                    agent.live_tasks += 1
        return {a.name: a for a in agents if a.name}

    def _schedule(self) -> list[dict[str, Any]]:
        """The maintenance schedule's windows."""
        schedule = self._api.get_json("/master/maintenance/schedule")
        return list((schedule or {}).get("windows") or []) if isinstance(schedule, dict) \
            else []

    def _status(self) -> tuple[set[Machine], set[Machine]]:
        """The machines in maintenance: (draining, down)."""
        status = self._api.get_json("/master/maintenance/status")
        status = status if isinstance(status, dict) else {}
        draining = {_machine_of(m.get("id")) for m in status.get("draining_machines") or []
                    if isinstance(m, dict)}
        down = {_machine_of(m) for m in status.get("down_machines") or []}
        return {m for m in draining if m}, {m for m in down if m}

    @staticmethod
    def _starts(windows: list[dict[str, Any]]) -> dict[Machine, int]:
        """When each scheduled machine's window starts (nanoseconds since the epoch)."""
        starts = {}
        for window in windows:
            start = ((window.get("unavailability") or {}).get("start") or {}).get(
                "nanoseconds", 0)
            for machine_id in window.get("machine_ids") or []:
                machine = _machine_of(machine_id)
                if machine:
                    starts[machine] = int(start)
        return starts

    # -- writes -------------------------------------------------------------------------------

    def _post_schedule(self, windows: list[dict[str, Any]]) -> None:
        self._api.request("POST", "/master/maintenance/schedule", body={"windows": windows})

    def _post_machines(self, path: str, machines: Iterable[Machine]) -> None:
        ids = [_machine_id(m) for m in sorted(set(machines))]
        if ids:
            self._api.request("POST", path, body=ids)

    # -- CoeNodes -----------------------------------------------------------------------------

    def nodes(self) -> dict[str, base.NodeHealth]:
        agents = self._agents()
        draining, down = self._status()
        return {name: base.NodeHealth(
            name=name, ready=agent.active, version=agent.version,
            schedulable=agent.machine not in draining | down,
            reason=None if agent.active else "the agent is not active (disconnected from "
                                             "the master)")
            for name, agent in agents.items()}

    def drain(self, names: list[str]) -> bool:
        agents = self._agents()
        targets = [agents[n] for n in dict.fromkeys(names) if n in agents]
        if not targets:
            return True  # agents the master does not list run nothing
        windows = self._schedule()
        starts = self._starts(windows)
        _, down = self._status()
        now = int(self._clock() * _NS)
        new = sorted({a.machine for a in targets} - starts.keys())
        if new:
            start = now + int(self._grace * _NS)
            windows.append({"machine_ids": [_machine_id(m) for m in new],
                            "unavailability": {"start": {"nanoseconds": start},
                                               "duration": {"nanoseconds": WINDOW * _NS}}})
            self._post_schedule(windows)
            starts.update(dict.fromkeys(new, start))
        ready = [a.machine for a in targets if a.machine not in down
                 and (not a.live_tasks or now >= starts[a.machine])]
        self._post_machines("/master/machine/down", ready)
        # After the machines due down: Marathon refusing (an error the conductor reports
        # while it retries) must not keep a machine past its grace.
        busy = {a.id for a in targets if a.machine not in down and a.machine not in ready}
        if busy:
            self._move_tasks(busy)
        return all(a.machine in down or a.machine in ready for a in targets)

    def _move_tasks(self, agent_ids: set[str]) -> None:
        """One round of moving Marathon's tasks off these (draining) agents: per app, at
        most one task killed without scaling, when the app can spare it (module docstring).
        A Marathon that does not answer moves nothing (the grace then ends the drain)."""
        try:
            answer = self._marathon.get_json("/v2/apps", {"embed": "apps.tasks"})
        except exception.CoeUnreachable as err:
            LOG.warning("Marathon does not answer, its tasks wait for the drain's grace: %s",
                        err)
            return
        apps = answer.get("apps") if isinstance(answer, dict) else None
        if not isinstance(apps, list):
            raise exception.CoeError(coe=COE, reason="GET /v2/apps: no list of apps")
        victims = [task for app in apps if isinstance(app, dict)
                   for task in [_spare_task(app, agent_ids)] if task]
        for task_id in victims:
            self._marathon.request("POST", "/v2/tasks/delete", query={"scale": "false"},
                                   body={"ids": [task_id]})

    def uncordon(self, names: list[str]) -> None:
        agents = self._agents()
        draining, down = self._status()
        listed = {agents[n].machine for n in names if n in agents}
        wanted = set(listed)
        if any(n not in agents for n in names):
            registered = {a.machine for a in agents.values()}
            wanted |= down - registered
        still_draining = (wanted & draining) - down
        if still_draining:
            windows = []
            for window in self._schedule():
                kept = [m for m in window.get("machine_ids") or []
                        if _machine_of(m) not in still_draining]
                if kept:
                    windows.append({**window, "machine_ids": kept})
            self._post_schedule(windows)
        self._post_machines("/master/machine/up", wanted & down)

    def health(self) -> base.CoeHealth:
        """The leading master answering, and its agents (Mesos lists no masters)."""
        return base.CoeHealth("ok", self.nodes(), lists_masters=False)


def _healthy(app: dict[str, Any], task: dict[str, Any]) -> bool:
    """Running, and passing every health check where the app has any."""
    if task.get("state") != MARATHON_RUNNING:
        return False
    if not app.get("healthChecks"):
        return True
    results = task.get("healthCheckResults") or []
    return len(results) >= len(app["healthChecks"]) and all(
        isinstance(r, dict) and r.get("alive") for r in results)


def _spare_task(app: dict[str, Any], agent_ids: set[str]) -> str | None:
    """The id of one of the app's tasks on these agents that it can spare now, if any: every
    instance launched and running (none staging or starting, so no replacement is under
    way), and another one healthy besides it."""
    tasks = [t for t in app.get("tasks") or [] if isinstance(t, dict)]
    if len(tasks) < int(app.get("instances") or 0):
        return None  # a replacement Marathon has not launched yet
    if any(t.get("state") != MARATHON_RUNNING for t in tasks):
        return None  # one is staging or starting (or being killed)
    healthy = sum(1 for t in tasks if _healthy(app, t))
    # An unhealthy one first: killing it costs the app nothing.
    for task in sorted(tasks, key=lambda t: _healthy(app, t)):
        if task.get("slaveId") in agent_ids and healthy - _healthy(app, task) >= 1:
            return str(task.get("id"))
    return None
