"""The sandbox guest agent: plays the servers that the simulation does not boot.

Simulated servers run no cloud-init, os-collect-config or heat-config, so nothing inside them
would signal a wait condition or report a software deployment, and every stack would wait for
its timeout. This agent does what those guests would do, through the same APIs:

- a software deployment IN_PROGRESS: mark it COMPLETE with outputs through the software
  deployment API (what heat-config's notify hook reports for a script that ran);
- an in-progress ``OS::Heat::WaitCondition``: POST a SUCCESS signal to its handle's signal
  endpoint with the handle's own token (what the handle's ``curl_cli`` does), once per
  expected signal (``count``), with ids 1..count so repeats are idempotent;
- a ``WaitConditionHandle`` with no wait condition beside it: one SUCCESS signal;
- a credentials deployment (inputs ``cluster_uuid`` and ``credentials``, a JSON object of
  file path: content; a master's holds the cluster CA's ``/etc/kubernetes/pki/ca.crt`` and
  ``ca.key``) is applied before it is reported: a master's switches that cluster's API to
  the CA, as the script would restart kube-apiserver with a new one; a worker's (the
  certificate only) changes nothing served here. Credentials that cannot be used (not JSON,
  a key that does not match the certificate) make the deployment FAILED with status code 1,
  as a failing script would;
- a swarm's join step (a deployment with the input ``swarm_cluster_uuid``) is reported with
  the ``worker_token`` output manager 0 would print.

Each sweep also lets ``cluster_apis.ClusterServers`` serve every cluster's COE API (the
masters' kube-apiserver, Docker engine or mesos-master), so the credentials a deployment
applies reach the API before the deployment is reported, and moves the simulated clusters
on in time: a node whose server got new user data reboots into its new version, replicas
move, faults from ``magnum-lite-sandbox fault`` apply, and each cluster's timeline (under the
state dir, see ``timeline``) records it.

It sweeps every ``BUSY_INTERVAL`` seconds while any stack is in progress and backs off to
``IDLE_INTERVAL`` when none is, so a stack's time is Heat's. An idle sweep costs Heat two list
calls: the in-progress stacks (nested ones included) and the top-level stacks tagged
``magnum-lite`` (the clusters, whose further reads ``cluster_apis`` describes). A busy sweep
adds one list of all deployments (with their input values), not one per member stack, plus
one resource list per in-progress stack that has a wait condition or handle, so the agent
does not compete with the engine it waits for. Each sweep logs its Heat call count at DEBUG.
It finds the stacks and deployments of every project in one call each: Heat's DB queries
skip the project filter for a context with the admin role (``is_admin``), so the admin user
scoped to its own project suffices and no ``stacks:global_index`` policy change is needed.
Keystone or Heat being down is logged and retried with backoff (the cluster APIs keep
serving); SIGTERM closes them and stops at once.
"""

import argparse
from collections.abc import Callable, Iterable
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from magnum_lite_sandbox import cluster_apis, docker_api
from magnum_lite_sandbox.heat_objects import attr, is_not_found

LOG = logging.getLogger("magnum_lite_sandbox.agent")

BUSY_INTERVAL = 0.25
IDLE_INTERVAL = 1.0
MAX_ERROR_INTERVAL = 5.0
RESEND_AFTER = 5.0
MAX_UNKNOWN_COUNT = 100
REQUEST_TIMEOUT = 10.0

WAIT_CONDITION = "OS::Heat::WaitCondition"
WAIT_HANDLE = "OS::Heat::WaitConditionHandle"

#: Outputs a heat-config hook reports for a script that ran cleanly.
DEPLOY_OUTPUTS = {"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}

#: Posts a handle signal: (endpoint, token, body) -> None; raises on failure.
SignalPoster = Callable[[str, str, dict], None]


class Plan:
    """The wait conditions and handles of one stack (for one action of it), from its template."""

    def __init__(self) -> None:
        self.wait_conditions: dict[str, tuple[str | None, int | None]] = {}  # name: handle, count
        self.handles: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.wait_conditions or self.handles)


def _resources_of(template: dict) -> dict:
    res = template.get("resources")
    if res is None:
        res = template.get("Resources")
    return res if isinstance(res, dict) else {}


def _resolve_count(value: Any, parameters: dict) -> int | None:
    """A WaitCondition's count: a literal, or a get_param of the stack; else unknown."""
    if isinstance(value, dict) and set(value) == {"get_param"}:
        name = value["get_param"]
        value = parameters.get(name) if isinstance(name, str) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _handle_of(value: Any) -> str | None:
    """The handle resource named by a WaitCondition's ``handle`` property, if literal."""
    if isinstance(value, dict):
        ref = value.get("get_resource") or value.get("Ref")
        return ref if isinstance(ref, str) else None
    return None


def make_plan(template: dict, parameters: dict) -> Plan:
    """Reads the resources the agent acts on from a stack's template."""
    plan = Plan()
    resources = _resources_of(template)
    handles = [n for n, r in resources.items() if isinstance(r, dict)
               and (r.get("type") or r.get("Type")) == WAIT_HANDLE]
    for name, res in resources.items():
        if not isinstance(res, dict):
            continue
        rtype = res.get("type") or res.get("Type")
        props = res.get("properties") or res.get("Properties") or {}
        if rtype == WAIT_CONDITION:
            count = _resolve_count(props.get("count", 1), parameters)
            plan.wait_conditions[name] = (_handle_of(props.get("handle")), count)
    waited = {h for h, _ in plan.wait_conditions.values()}
    if plan.wait_conditions and None in waited:
        waited.update(handles)  # a handle we cannot tell apart: signal all of them
    plan.handles = [h for h in handles if h not in waited]
    return plan


class CountingHeat:
    """A heatclient whose API calls are counted, so each sweep can log what it cost."""

    def __init__(self, heat: Any) -> None:
        self.heat = heat
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        return _CountingManager(self, getattr(self.heat, name))


class _CountingManager:
    def __init__(self, counter: CountingHeat, manager: Any) -> None:
        self._counter = counter
        self._manager = manager

    def __getattr__(self, name: str) -> Any:
        member = getattr(self._manager, name)
        if not callable(member):
            return member

        def call(*args: Any, **kwargs: Any) -> Any:
            self._counter.count += 1
            return member(*args, **kwargs)
        return call


def guest_outputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """What a deployment's script reports besides its status: a swarm's join step
    (input ``swarm_cluster_uuid``, swarm_fedora_v2's join_tokens.yaml) reports the worker
    join token manager 0's swarm would print."""
    uuid = inputs.get("swarm_cluster_uuid")
    if uuid:
        return {"worker_token": docker_api.join_token(str(uuid), "worker")}
    return {}


class Agent:
    """One sweep at a time over the in-progress stacks; see the module docstring."""

    def __init__(self, heat: Any, post_signal: SignalPoster,
                 clock: Callable[[], float] = time.monotonic,
                 clusters: cluster_apis.ClusterServers | None = None) -> None:
        self.heat = CountingHeat(heat)
        self.post_signal = post_signal
        self.clock = clock
        self.clusters = clusters
        self._plans: dict[tuple, Plan] = {}
        self._sent: dict[tuple, float] = {}  # (stack, action key, handle, signal id): time
        self._handle_creds: dict[tuple, tuple[str, str]] = {}

    # -- one sweep ---------------------------------------------------------------------
    def sweep(self) -> bool:
        """Acts on every in-progress stack and serves the clusters' APIs; True when any
        stack was in progress."""
        self.heat.count = 0
        try:
            return self._sweep()
        finally:
            LOG.debug("sweep made %d Heat calls", self.heat.count)

    def _sweep(self) -> bool:
        if self.clusters is not None:
            self.clusters.sweep(self.heat)
        stacks = list(self.heat.stacks.list(show_nested=True,
                                            filters={"status": "IN_PROGRESS"}))
        if not stacks:
            self._forget(set())
            return False  # deployments and wait conditions only run inside a stack action
        self._complete_deployments()
        live = set()
        for stack in stacks:
            key = self._stack_key(stack)
            live.add(key)
            try:
                self._sweep_stack(stack, key)
            except Exception as exc:  # noqa: BLE001 - one stack must not stop the others
                if is_not_found(exc):
                    LOG.debug("stack %s went away during the sweep", attr(stack, "id"))
                else:
                    LOG.warning("stack %s: %s", attr(stack, "id"), exc)
        self._forget(live)
        return True

    @staticmethod
    def _stack_key(stack: Any) -> tuple:
        return (attr(stack, "id"), attr(stack, "stack_status"),
                attr(stack, "updated_time") or attr(stack, "creation_time"))

    def _forget(self, live: set) -> None:
        """Drops what belongs to actions that finished, so memory stays bounded."""
        for key in [k for k in self._plans if k not in live]:
            del self._plans[key]
        live_ids = {k[0] for k in live}
        for sent in [s for s in self._sent if s[0][0] not in live_ids]:
            del self._sent[sent]
        for creds in [c for c in self._handle_creds if c[0] not in live_ids]:
            del self._handle_creds[creds]

    def _plan(self, ref: str, key: tuple) -> Plan:
        """The stack's plan, read once per stack action (the template changes only on update)."""
        plan = self._plans.get(key)
        if plan is None:
            template = self.heat.stacks.template(ref)
            plan = make_plan(template, {})
            if any(count is None for _, count in plan.wait_conditions.values()):
                # A count from a parameter: read the stack's parameters to resolve it.
                detail = self.heat.stacks.get(ref, resolve_outputs=False)
                plan = make_plan(template, attr(detail, "parameters") or {})
            self._plans[key] = plan
        return plan

    def _sweep_stack(self, stack: Any, key: tuple) -> None:
        ref = f"{attr(stack, 'stack_name')}/{attr(stack, 'id')}"
        plan = self._plan(ref, key)
        if not plan:
            return
        resources = {attr(r, "resource_name"): r for r in self.heat.resources.list(ref)}
        for name, (handle, count) in plan.wait_conditions.items():
            res = resources.get(name)
            if res is None or not _in_progress(res):
                continue
            targets = [handle] if handle else [h for h, r in resources.items()
                                               if attr(r, "resource_type") == WAIT_HANDLE]
            for target in targets:
                self._signal_handle(ref, key, target, count)
        for handle in plan.handles:
            res = resources.get(handle)
            if res is not None and str(attr(res, "resource_status", "")).endswith("COMPLETE"):
                self._signal_handle(ref, key, handle, 1)

    # -- acting like a guest -------------------------------------------------------------
    def _complete_deployments(self) -> None:
        """Reports every deployment that is waiting for its server as done, after applying
        it where the guest's script would change something the sandbox plays (a cluster's
        credentials: see ``_apply``); one that cannot be applied is reported FAILED."""
        for deployment in self.heat.software_deployments.list():
            if attr(deployment, "status") != "IN_PROGRESS":
                continue
            deployment_id = attr(deployment, "id")
            status, reason, outputs = "COMPLETE", "Outputs received", dict(DEPLOY_OUTPUTS)
            outputs.update(guest_outputs(attr(deployment, "input_values") or {}))
            try:
                self._apply(deployment)
            except ValueError as exc:
                status = "FAILED"  # Heat's words for a script that failed:
                reason = "deploy_status_code : Deployment exited with non-zero status code: 1"
                outputs.update(deploy_stderr=f"{exc}\n", deploy_status_code=1)
            except Exception as exc:  # noqa: BLE001 - e.g. Heat hiccup: try again next sweep
                LOG.warning("deployment %s: not applied yet: %s", deployment_id, exc)
                continue
            try:
                self.heat.software_deployments.update(
                    deployment_id, status=status, status_reason=reason,
                    output_values=outputs)
            except Exception as exc:  # noqa: BLE001 - e.g. deleted meanwhile; next sweep
                LOG.warning("deployment %s: %s", deployment_id, exc)
                continue
            LOG.info("deployment %s (%s of server %s) %s%s", deployment_id,
                     attr(deployment, "action"), attr(deployment, "server_id"), status,
                     f": {outputs['deploy_stderr'].strip()}" if status == "FAILED" else "")

    def _apply(self, deployment: Any) -> None:
        """A credentials deployment (inputs ``cluster_uuid`` and ``credentials``) switches
        that cluster's API to the new CA, as the masters' script would restart theirs."""
        inputs = attr(deployment, "input_values")
        if inputs is None:  # Heat's listing carries them; read them if a listing did not
            inputs = attr(self.heat.software_deployments.get(attr(deployment, "id")),
                           "input_values")
        inputs = inputs or {}
        if self.clusters is None or "credentials" not in inputs or \
                not inputs.get("cluster_uuid"):
            return
        self.clusters.apply_credentials(str(inputs["cluster_uuid"]), inputs["credentials"])

    def _signal_handle(self, ref: str, key: tuple, handle: str, count: int | None) -> None:
        now = self.clock()
        if count is None:
            # Unknown count: one more distinct signal per sweep until the condition is met.
            done = [k for k in self._sent if k[:3] == (key, ref, handle)]
            ids = [str(len(done) + 1)] if len(done) < MAX_UNKNOWN_COUNT else []
        else:
            ids = [str(i) for i in range(1, count + 1)]
        for sid in ids:
            sent_key = (key, ref, handle, sid)
            sent_at = self._sent.get(sent_key)
            if sent_at is not None and now - sent_at < RESEND_AFTER:
                continue
            endpoint, token = self._handle_credentials(ref, handle)
            try:
                self.post_signal(endpoint, token, {"status": "SUCCESS", "id": sid,
                                                   "reason": "Signal from the sandbox agent",
                                                   "data": "ok"})
            except Exception:
                # Perhaps the handle's token expired: read it again on the next sweep.
                self._handle_creds.pop((ref.rsplit("/", 1)[-1], handle), None)
                raise
            self._sent[sent_key] = now
            LOG.info("signalled %s of %s (id %s)", handle, ref, sid)

    def _handle_credentials(self, ref: str, handle: str) -> tuple[str, str]:
        cache_key = (ref.rsplit("/", 1)[-1], handle)
        creds = self._handle_creds.get(cache_key)
        if creds is None:
            res = self.heat.resources.get(ref, handle)
            attributes = attr(res, "attributes") or {}
            creds = (attributes["endpoint"], attributes["token"])
            self._handle_creds[cache_key] = creds
        return creds


def _in_progress(res: Any) -> bool:
    """A resource status such as CREATE_IN_PROGRESS or UPDATE_IN_PROGRESS."""
    return str(attr(res, "resource_status", "")).endswith("_IN_PROGRESS")


# -- process ----------------------------------------------------------------------------
def load_sandbox(state_dir: str) -> dict:
    """The contract file written by the start command (see magnum_lite_sandbox)."""
    with open(os.path.join(state_dir, "sandbox.json"), encoding="utf-8") as f:
        return json.load(f)


def build_clients(sandbox: dict) -> tuple[Any, SignalPoster]:
    """A heatclient for the admin user scoped to its project, and a poster for handle signals.

    Imported here so that importing this module (e.g. in unit tests) needs neither library.
    """
    from heatclient import client as heat_client
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    admin = sandbox["users"]["admin"]
    auth = v3.Password(auth_url=sandbox["keystone_url"], username=admin["username"],
                       password=admin["password"], project_name=admin["project_name"],
                       user_domain_name=admin.get("user_domain_name", "Default"),
                       project_domain_name=admin.get("project_domain_name", "Default"))
    sess = ks_session.Session(auth=auth, timeout=REQUEST_TIMEOUT)
    heat = heat_client.Client("1", session=sess, service_type="orchestration",
                              interface="public", region_name=sandbox.get("region"))
    signal_session = ks_session.Session(timeout=REQUEST_TIMEOUT)

    def post_signal(endpoint: str, token: str, body: dict) -> None:
        signal_session.post(endpoint, json=body, authenticated=False,
                            headers={"X-Auth-Token": token, "Accept": "application/json"})

    return heat, post_signal


class _Stop(BaseException):
    """Raised by the SIGTERM handler to abandon a request in flight (a BaseException, so no
    ``except Exception`` on the way swallows it)."""


def run(state_dir: str, stop: threading.Event | None = None,
        clients: Callable[[dict], tuple[Any, SignalPoster]] = build_clients,
        servers: cluster_apis.ClusterServers | None = None) -> None:
    """The agent's loop: sweep, sleep, survive outages, until ``stop`` is set.

    The cluster APIs outlive a Heat outage (a real cluster does not notice one); they are
    closed when the loop ends, however it ends.
    """
    stop = stop or threading.Event()
    servers = servers if servers is not None else cluster_apis.ClusterServers(
        state_dir=state_dir)
    agent: Agent | None = None
    failures = 0
    delay = IDLE_INTERVAL
    try:
        while not stop.is_set():
            try:
                if agent is None:
                    agent = Agent(*clients(load_sandbox(state_dir)), clusters=servers)
                busy = agent.sweep()
                if failures:
                    LOG.info("Heat reachable again after %d failed sweeps", failures)
                failures = 0
                delay = BUSY_INTERVAL if busy else \
                    min(max(delay, BUSY_INTERVAL) * 2, IDLE_INTERVAL)
            except _Stop:
                break
            except Exception as exc:  # noqa: BLE001 - never crash-loop: log, back off, retry
                failures += 1
                delay = min(BUSY_INTERVAL * 2 ** failures, MAX_ERROR_INTERVAL)
                level = logging.WARNING if failures in (1, 10) or failures % 60 == 0 \
                    else logging.DEBUG
                LOG.log(level, "sweep failed (%d in a row, retry in %.1fs): %s", failures,
                        delay, exc)
                if failures >= 3:
                    agent = None  # rebuild: fresh token, fresh catalog, fresh handle tokens
            stop.wait(delay)
    finally:
        servers.close()


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m magnum_lite_sandbox.agent",
                                     description="Sandbox guest agent (see module docstring).")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("keystoneauth", "urllib3", "heatclient"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stop.set()
        raise _Stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    LOG.info("sandbox agent started (state dir %s)", args.state_dir)
    try:
        run(args.state_dir, stop)
    except _Stop:
        pass
    LOG.info("sandbox agent stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
