"""Stack operations through python-heatclient, with Heat's errors turned into ours.

Every call here is one request to Heat (or a few, for a failed stack's resources). A failure
becomes CloudUnreachable (no answer: try again later) or CloudError (Heat said no), each with
a message fit for a cluster's status_reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import concurrent.futures
import contextlib
import dataclasses
import functools
from pathlib import Path
import time
from typing import Any, TypeVar

from heatclient import exc as heat_exc
from heatclient.common import template_utils
from keystoneauth1 import exceptions as ks_exceptions
from urllib3 import exceptions as urllib3_exceptions

from magnum_lite.common import clients, exception, failpoints
from magnum_lite.drivers.heat import announced, names

T = TypeVar("T")

MAX_MESSAGE = 300
# Sends of a stack create whose answer is lost, and the wait (seconds, times the attempt)
# before looking the stack up by name.
CREATE_ATTEMPTS = 3
CREATE_RETRY_WAIT = 2.0


@dataclasses.dataclass(frozen=True)
class StackSummary:
    """One line of Heat's stack list."""

    id: str
    name: str
    status: str  # e.g. CREATE_IN_PROGRESS
    reason: str

    @property
    def action(self) -> str:
        """CREATE of CREATE_IN_PROGRESS, DELETE of DELETE_FAILED."""
        for state in ("_IN_PROGRESS", "_COMPLETE", "_FAILED"):
            if self.status.endswith(state):
                return self.status[:-len(state)]
        return self.status

    @property
    def in_progress(self) -> bool:
        return self.status.endswith("_IN_PROGRESS")

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")

    @property
    def complete(self) -> bool:
        return self.status.endswith("_COMPLETE")


class StackListing(dict[str, StackSummary]):
    """Heat's stack list by name, able to find a cluster's worker stacks without a scan of
    every stack of the project (the reconciler asks once per cluster, thousands per round)."""

    _by_cluster: dict[str, list[str]] | None = None

    def worker_stack_names(self, cluster_stack_name: str) -> list[str]:
        """Names of the form `<cluster_stack_name>-ng-...` (see names.py)."""
        index = self._by_cluster
        if index is None:
            index = {}
            for name in self:
                head, sep, _tail = name.rpartition("-ng-")
                if sep:
                    index.setdefault(head, []).append(name)
            self._by_cluster = index  # built at most a few times if threads race: harmless
        return index.get(cluster_stack_name, [])


def _message(err: Exception) -> str:
    text = " ".join(str(err).split())
    # heatclient's HTTP errors read "ERROR: <Heat's message>"; the prefix says nothing.
    text = text.removeprefix("ERROR: ")
    return text[:MAX_MESSAGE]


def _not_connected(err: Exception) -> bool:
    """Whether a connection failure happened before any request was sent (the connection
    was never made: refused, no route, no such host), as urllib3 says under keystoneauth."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, urllib3_exceptions.NewConnectionError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


@contextlib.contextmanager
def heat_errors(what: str) -> Iterator[None]:
    """Turn heatclient/keystoneauth errors raised while doing `what` into ours."""
    try:
        yield
    except (ks_exceptions.DiscoveryFailure, ks_exceptions.EndpointNotFound) as err:
        # No endpoint for Heat: the request was never sent. (A ConnectFailure may come after
        # Heat got the request, a ConnectTimeout always may: keystoneauth raises them for a
        # connection dropped or a read timed out too.)
        raise exception.CloudUnreachable(service="Heat", reason=f"{what}: {_message(err)}",
                                         never_sent=True) from err
    except ks_exceptions.ConnectFailure as err:
        raise exception.CloudUnreachable(service="Heat", reason=f"{what}: {_message(err)}",
                                         never_sent=_not_connected(err)) from err
    except (ks_exceptions.ConnectTimeout, ks_exceptions.ServiceUnavailable,
            ks_exceptions.GatewayTimeout, ks_exceptions.BadGateway,
            heat_exc.HTTPServiceUnavailable) as err:
        raise exception.CloudUnreachable(service="Heat", reason=f"{what}: {_message(err)}"
                                         ) from err
    except (ks_exceptions.Unauthorized, ks_exceptions.AuthorizationFailure,
            heat_exc.HTTPUnauthorized) as err:
        raise exception.CloudError(service="Heat", reason=f"{what}: not authorized: "
                                                          f"{_message(err)}") from err
    except (heat_exc.HTTPException, ks_exceptions.ClientException) as err:
        raise exception.CloudError(service="Heat", reason=f"{what}: {_message(err)}") from err


def client(context: Any) -> Any:
    """A heatclient acting for `context` (see clients.get_acting_auth)."""
    with heat_errors("connecting"):
        return clients.get_heat_client(context)


def _call(what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with heat_errors(what):
        return func(*args, **kwargs)


def _read(what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """_call for a request that changes nothing, sent once more when the connection drops.

    A pooled keep-alive connection that the server closes just as it is reused (Heat's API
    server ends idle connections after a few seconds) fails at once: reads are safe to send
    again, and a second try on a fresh connection is what a user would do. A timeout is not
    tried again (Heat is slow, not gone).
    """
    with heat_errors(what):
        try:
            return func(*args, **kwargs)
        except ks_exceptions.ConnectFailure:  # not ConnectTimeout, a sibling class
            pass
        return func(*args, **kwargs)


def list_stacks(client: Any) -> StackListing:
    """Every magnum-lite stack of the client's project, by name (one paged listing)."""
    with heat_errors("listing stacks"):
        listing = StackListing((s.stack_name, StackSummary(s.id, s.stack_name, s.stack_status,
                                                           s.stack_status_reason or ""))
                               for s in client.stacks.list(tags=names.STACK_TAG))
    announced.apply(listing)  # what Heat announced and has not stored yet
    return listing


def get_stack(client: Any, stack_id: str) -> Any | None:
    """The stack with its parameters and outputs; None when Heat has no such stack."""
    try:
        return _read("reading a stack", client.stacks.get, stack_id)
    except exception.CloudError as err:
        if isinstance(err.__cause__, heat_exc.HTTPNotFound):
            return None
        raise


#: Threads that read stacks side by side for one check (get_stacks), shared by all checks.
_READERS = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="heat-read")


def get_stacks(client: Any, stack_ids: list[str]) -> dict[str, Any | None]:
    """Several stacks with their outputs (None for one Heat no longer has), read side by
    side: a check that needs the cluster stack's outputs and every chunk's waits for the
    slowest read, not for their sum.

    :raises exception.CloudError: as get_stack (the first failure met).
    """
    ids = list(dict.fromkeys(stack_ids))
    if len(ids) < 2:
        return {stack_id: get_stack(client, stack_id) for stack_id in ids}
    reads = {stack_id: _READERS.submit(get_stack, client, stack_id) for stack_id in ids}
    return {stack_id: read.result() for stack_id, read in reads.items()}


def outputs_of(stack: Any) -> dict[str, Any]:
    return {o["output_key"]: o.get("output_value") for o in (stack.outputs or [])}


def template_and_files(template: Path, environments: list[Path]
                       ) -> tuple[dict, dict[str, str], dict]:
    """(template, files, environment) as Heat's API wants them, nested files included.

    The shared templates do not change while the process runs, so each combination is read
    and parsed once (parsing is most of the cost of a create); callers must not change the
    result.
    """
    return _template_and_files(str(template), tuple(str(p) for p in environments))


@functools.lru_cache(maxsize=64)
def _template_and_files(template: str, environments: tuple[str, ...]
                        ) -> tuple[dict, dict[str, str], dict]:
    tpl_files, tpl = template_utils.get_template_contents(template_file=template)
    env_files, env = template_utils.process_multiple_environments_and_files(
        env_paths=list(environments))
    return tpl, {**tpl_files, **env_files}, env


def create(client: Any, name: str, template: Path, environments: list[Path],
           parameters: dict[str, Any], timeout_minutes: int) -> str:
    """Start creating a stack; its id. Idempotent, so a create asked again finds its stack:

    - a stack of that name that exists already is reused (Heat answers 409: a create retried
      after a crash, or a takeover);
    - when Heat got the request but its answer was lost (a read timeout, a dropped
      connection), or Heat failed inside (a 500: seen when Heat's own call to Keystone for
      the stack's trust fails), the stack is looked up by name before the create is sent
      again: Heat may have made it. After CREATE_ATTEMPTS sends the error goes up; the
      stack's deterministic name lets the reconciler and a delete find it then.
    """
    tpl, files, env = template_and_files(template, environments)
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            with heat_errors("creating stack " + name):
                created = client.stacks.create(
                    stack_name=name, template=tpl, files=files, environment=env,
                    parameters=parameters, timeout_mins=max(1, timeout_minutes),
                    disable_rollback=True, tags=names.STACK_TAG)
                # A fault test loses Heat's answer here (the stack is made all the same).
                failpoints.hit("heat.stack_create.sent", ks_exceptions.ConnectTimeout)
            return created["stack"]["id"]
        except exception.CloudUnreachable as err:
            if err.never_sent or attempt == CREATE_ATTEMPTS:
                raise
            existing = _find(client, name, CREATE_RETRY_WAIT * attempt)
            if existing is not None:
                return existing.id
        except exception.CloudError as err:  # Heat answered no
            if isinstance(err.__cause__, heat_exc.HTTPConflict):
                existing = get_stack(client, name)
                if existing is not None:
                    return existing.id
            if (not isinstance(err.__cause__, heat_exc.HTTPInternalServerError)
                    or attempt == CREATE_ATTEMPTS):
                raise
            existing = _find(client, name, CREATE_RETRY_WAIT * attempt)
            if existing is not None:
                return existing.id
    raise AssertionError("unreachable")  # the loop returns or raises


def _find(client: Any, name: str, wait: float) -> Any | None:
    """The stack `name` after a create whose answer was lost, or None (then it is sent
    again). Heat may still be storing it: the lookup waits `wait` seconds first."""
    time.sleep(wait)
    try:
        return get_stack(client, name)
    except exception.CloudUnreachable:
        return None  # the next create finds it by its 409 if Heat made it


def preview(client: Any, name: str, template: Path, environments: list[Path],
            parameters: dict[str, Any]) -> dict[str, Any]:
    """Heat's preview of a stack: what it would create, checked against Heat's limits."""
    tpl, files, env = template_and_files(template, environments)
    result = _read("previewing stack " + name, client.stacks.preview, stack_name=name,
                   template=tpl, files=files, environment=env, parameters=parameters)
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def preview_update(client: Any, stack_id: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Heat's preview of changing some parameters of a stack: its resource changes (added,
    deleted, replaced, unchanged, updated), nested members included."""
    body = _read("previewing an update of stack " + stack_id, client.stacks.preview_update,
                 stack_id, existing=True, show_nested=True, parameters=parameters)
    return body.get("resource_changes", body)


def update_parameters(client: Any, stack_id: str, parameters: dict[str, Any],
                      rollback: bool, timeout_minutes: int | None = None) -> None:
    """Change some parameters of a stack, keeping its template and the others (PATCH)."""
    fields: dict[str, Any] = {"existing": True, "parameters": parameters,
                              "disable_rollback": not rollback}
    if timeout_minutes:
        fields["timeout_mins"] = timeout_minutes
    _call("updating stack " + stack_id, client.stacks.update, stack_id, **fields)


def nested_resources(client: Any, stack_id: str, name: str, depth: int) -> list[Any]:
    """The resources called `name` in the stack and its nested stacks down to `depth`
    levels (each with Heat's links: rel "stack" is the stack holding it)."""
    return list(_read(f"listing resources {name} of stack {stack_id}", client.resources.list,
                      stack_id, nested_depth=depth, filters={"name": name}))


def top_resources(client: Any, stack_id: str) -> list[Any]:
    """The stack's own resources (none of its nested stacks'), each with its status."""
    return list(_read(f"listing the resources of stack {stack_id}", client.resources.list,
                      stack_id))


def owner_of(resource: Any) -> str:
    """"<stack name>/<stack id>" of the stack holding `resource` (heatclient then needs no
    lookup of the stack)."""
    for link in getattr(resource, "links", None) or []:
        if link.get("rel") == "stack":
            name, stack_id = link.get("href", "").rstrip("/").rsplit("/", 2)[-2:]
            return f"{name}/{stack_id}"
    raise exception.CloudError(service="Heat", reason=f"resource {resource.resource_name} "
                                                      f"names no stack")


def mark_unhealthy(client: Any, stack: str, resource_name: str, reason: str) -> None:
    """Put a resource in CHECK_FAILED: the next update of a stack above it replaces it."""
    _call(f"marking {resource_name} of stack {stack} unhealthy", client.resources.mark_unhealthy,
          stack, resource_name, True, reason)


def delete(client: Any, stack_id: str) -> None:
    """Start deleting a stack; one Heat no longer has counts as deleted."""
    try:
        _call("deleting stack " + stack_id, client.stacks.delete, stack_id)
    except exception.CloudError as err:
        if not isinstance(err.__cause__, heat_exc.HTTPNotFound):
            raise


def _stack_link(resource: Any, rel: str) -> str | None:
    """The id of the stack a resource's link of relation `rel` points to."""
    for link in getattr(resource, "links", None) or []:
        if link.get("rel") == rel:
            return link.get("href", "").rstrip("/").rsplit("/", 1)[-1]
    return None


def _deepest(resources: list[Any]) -> list[Any]:
    """The failed resources whose own nested stack holds no failed resource: the causes.

    A failure climbs up through every nested stack and ResourceGroup above it; only the
    bottom one says what went wrong.
    """
    failing_stacks = {_stack_link(r, "stack") for r in resources}
    return [r for r in resources if _stack_link(r, "nested") not in failing_stacks
            or _stack_link(r, "nested") is None]


def failure_reason(client: Any, stack: StackSummary, limit: int) -> str:
    """Why a stack failed: its deepest failed resources and Heat's messages for them.

    Falls back to the stack's own reason when the resources cannot be read.
    """
    try:
        resources = _read("reading failed resources", client.resources.list, stack.id,
                          nested_depth=5, filters={"status": "FAILED"})
    except exception.CloudError:
        resources = []
    failed = _deepest(list(resources))
    if not failed:
        return f"stack {stack.name} {stack.status}: {' '.join(stack.reason.split())}"[:500]
    # The same failure on many nodes is said once, with how often it happened.
    counts: dict[str, int] = {}
    for r in failed:
        parent = getattr(r, "parent_resource", None)
        where = f" in {parent}" if parent else ""
        text = (f"{r.resource_name} ({r.resource_type}){where}: "
                f"{' '.join((r.resource_status_reason or r.resource_status).split())}")
        counts[text] = counts.get(text, 0) + 1
    parts = [text + (f" (x{n})" if n > 1 else "") for text, n in list(counts.items())[:limit]]
    more = f" (and {len(counts) - limit} more)" if len(counts) > limit else ""
    # A stack that timed out cancels what it was building: its resources then say only
    # "cancelled", so the stack's own reason leads.
    own = " ".join(stack.reason.split())
    lead = f"{own}; " if "timed out" in own.lower() else ""
    return (f"stack {stack.name} {stack.status}: {lead}" + "; ".join(parts) + more)[:500]
