"""An in-memory Heat behind python-heatclient 5.3's v1 Client interface, as the drivers use it.

    cloud = FakeHeatCloud()                    # owns every project's stacks
    cloud.install(monkeypatch)                 # clients.get_heat_client -> cloud.client_for
    client = cloud.client_for(context)         # a client of context.project_id

What it answers, as Heat does (the shapes are heatclient's):

- `stacks.list(tags=..., filters=...)`: a generator of `heatclient.v1.stacks.Stack` (id,
  stack_name, stack_status, stack_status_reason, tags, ...) of the client's project; nested
  and deleted stacks are not listed. The request happens on iteration, as heatclient's does.
- `stacks.get(id_or_name)`: parameters as strings (hidden ones '******', plus OS::stack_id,
  OS::stack_name, OS::project_id), outputs as [{output_key, output_value, description}]; a
  deleted stack is still found by id (DELETE_COMPLETE), never by name; else HTTPNotFound.
- `stacks.create(**fields)` -> {"stack": {"id", "links"}}; HTTPConflict on a live stack of the
  same name in the project; HTTPBadRequest on a missing, unknown or invalid parameter.
- `stacks.update(id, existing=True, parameters=...)`: PATCH merges parameters (PUT replaces
  them and the template); ResourceGroup `removal_policies` blacklist members for good.
- `stacks.delete(id)`; `stacks.preview(**fields)` -> a Stack whose to_dict() is Heat's preview.
- `resources.list(stack_id, nested_depth=, filters={"status": ..., "name": ...})`:
  `Resource` objects with Heat's `links` (rel self/stack/nested) for the stack's own
  resources, its groups' members and their templates' resources down to `nested_depth`
  and, for a failed stack, the chain of failed nested resources down to the one that failed.
- `resources.mark_unhealthy(stack, resource, mark_unhealthy, reason)`: CHECK_FAILED (or
  back) for a resource of that very stack (a member's nested stack), by name or physical
  id; HTTPNotFound for another; HTTPConflict while the stack is updating (Heat says so
  while an engine holds the resource). The next update
  of the stack replaces every CHECK_FAILED resource when it completes (a server gets a new
  id).

Heat's `max_resources_per_stack` is enforced on the whole tree (every nested stack's
resources, ResourceGroup members included, counted from the templates and the environment's
resource_registry): a preview of a too-large stack is refused with HTTPBadRequest, a create
or update of one fails (CREATE_FAILED/UPDATE_FAILED, "Request limit exceeded").

Outputs are computed from the templates the driver sent: the intrinsic functions get_param,
get_attr, get_resource and list_join are evaluated over simulated resources (servers named
from their properties, ports with private addresses, floating IPs and load balancer VIPs only
where the environment maps the optional types to real templates; OS::Heat::None gives None).

Progress is deterministic: a stack stays *_IN_PROGRESS until `complete(name)` or
`fail(name, resource, message)`, or, with `complete_after=N`, until it has been observed
(listed or read) N times since its action began. `set_unreachable()` makes every call raise
keystoneauth's ConnectFailure (connection refused) until `set_unreachable(False)`;
`inject(method, error)` makes the next call of one method raise a given error, and
`lose_answers("stacks.create")` makes the next create happen with its answer lost (a read
timeout). Everything is guarded by one lock.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import copy
import dataclasses
import datetime
import itertools
import json
import threading
from typing import Any
import uuid

from heatclient import exc as heat_exc
from heatclient.v1 import resources as heat_resources
from heatclient.v1 import stacks as heat_stacks
from keystoneauth1 import exceptions as ks_exceptions
from urllib3 import exceptions as urllib3_exceptions
import yaml

ENDPOINT = "http://heat.fake:8004/v1"
_NAMESPACE = uuid.UUID("3c0f5a52-9a4e-4d1e-8a57-6f1f2f8d0b1e")
_NONE = "OS::Heat::None"
_GROUP = "OS::Heat::ResourceGroup"
_ACTIONS = ("CREATE", "UPDATE", "DELETE")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_error(cls: type[heat_exc.HTTPException], kind: str, message: str,
                title: str) -> heat_exc.HTTPException:
    """A heatclient exception as heatclient builds it from Heat's JSON error document."""
    body = {"explanation": message, "code": cls.code, "title": title,
            "error": {"message": message, "traceback": None, "type": kind}}
    return cls(json.dumps(body))


def not_found(name: str) -> heat_exc.HTTPException:
    return _http_error(heat_exc.HTTPNotFound, "EntityNotFound",
                       f"The Stack ({name}) could not be found.", "Not Found")


def bad_request(kind: str, message: str) -> heat_exc.HTTPException:
    return _http_error(heat_exc.HTTPBadRequest, kind, message, "Bad Request")


def limit_exceeded() -> heat_exc.HTTPException:
    return bad_request("RequestLimitExceeded",
                       "Request limit exceeded: Maximum resources per stack exceeded.")


@dataclasses.dataclass
class _Group:
    """A ResourceGroup's members (names "0", "1", ...) and the names it will never reuse."""

    members: list[str] = dataclasses.field(default_factory=list)
    blacklist: set[str] = dataclasses.field(default_factory=set)

    def resize(self, count: int) -> None:
        names = (str(i) for i in itertools.count() if str(i) not in self.blacklist)
        self.members = list(itertools.islice(names, count))


@dataclasses.dataclass
class FakeStack:
    """One stack as the fake holds it; `parameters` are the real (unmasked) values."""

    id: str
    name: str
    project_id: str
    template: dict
    files: dict[str, str]
    registry: dict[str, str]
    parameters: dict[str, Any]
    tags: list[str]
    timeout_mins: int | None
    disable_rollback: bool
    action: str = "CREATE"
    state: str = "IN_PROGRESS"
    reason: str = "Stack CREATE started"
    observations: int = 0
    groups: dict[str, _Group] = dataclasses.field(default_factory=dict)
    failed_path: list[str] | None = None
    failed_message: str = ""
    #: Resources marked unhealthy (CHECK_FAILED), by path, with the reason given.
    unhealthy: dict[tuple[str, ...], str] = dataclasses.field(default_factory=dict)
    #: How often the resource at a path was replaced (its physical id changes each time).
    replacements: dict[tuple[str, ...], int] = dataclasses.field(default_factory=dict)
    memo: dict[tuple, Any] = dataclasses.field(default_factory=dict)
    #: Top-level resources already done while the stack's action is in progress (Heat
    #: lists them {action}_COMPLETE); none until a test says so (`resources_done`).
    done: set[str] = dataclasses.field(default_factory=set)
    #: Bumped whenever what the outputs depend on changes (parameters, group members).
    generation: int = 0
    outputs_cache: tuple[int, list[dict[str, Any]]] | None = None
    creation_time: str = dataclasses.field(default_factory=_now)
    updated_time: str | None = None
    deletion_time: str | None = None
    deleted: bool = False

    @property
    def status(self) -> str:
        return f"{self.action}_{self.state}"

    @property
    def in_progress(self) -> bool:
        return self.state == "IN_PROGRESS"

    def link(self) -> str:
        return f"{ENDPOINT}/{self.project_id}/stacks/{self.name}/{self.id}"


class _Scope:
    """One (nested) stack level of a FakeStack for evaluating intrinsic functions."""

    def __init__(self, cloud: FakeHeatCloud, stack: FakeStack, path: tuple[str, ...],
                 template: dict, params: dict[str, Any]) -> None:
        self.cloud, self.stack, self.path = cloud, stack, path
        self.template, self.params = template, params
        self._members: dict[tuple[str, str], _Scope | None] = {}

    # -- values --------------------------------------------------------------------------

    def param(self, name: str) -> Any:
        if name == "OS::stack_id":
            return self.cloud.uid(self.stack, self.path, "stack")
        if name == "OS::stack_name":
            return self.stack.name
        if name in self.params:
            return self.params[name]
        return (self.template.get("parameters") or {}).get(name, {}).get("default")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (fn, arg), = value.items()
                if fn == "get_param":
                    names = arg if isinstance(arg, list) else [arg]
                    return _walk(self.param(names[0]), [self.resolve(n) for n in names[1:]])
                if fn == "get_attr":
                    return self.attr(arg[0], [self.resolve(a) for a in arg[1:]])
                if fn == "get_resource":
                    return self.ref(arg)
                if fn == "list_join":
                    sep, lists = arg[0], arg[1:]
                    items: list[Any] = []
                    for part in lists:
                        part = self.resolve(part)
                        items.extend(part if isinstance(part, list) else [part])
                    return sep.join("" if i is None else str(i) for i in items)
                if fn == "yaql":
                    return _yaql_or(arg["expression"], self.resolve(arg.get("data")))
                if fn in ("str_replace", "if", "repeat", "list_concat", "not", "equals",
                          "get_file", "map_merge", "str_split"):
                    raise NotImplementedError(f"the fake Heat does not evaluate {fn}")
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def output(self, key: str) -> Any:
        outputs = self.template.get("outputs") or {}
        if key not in outputs:
            return None
        return self.resolve(outputs[key].get("value"))

    # -- resources -----------------------------------------------------------------------

    def definition(self, name: str) -> dict:
        resources = self.template.get("resources") or {}
        if name not in resources:
            raise ValueError(f"no resource {name} in {'.'.join(self.path) or 'the stack'}")
        return resources[name]

    def mapped_type(self, name: str) -> str:
        rtype = self.definition(name)["type"]
        return self.stack.registry.get(rtype, rtype)

    def properties(self, name: str) -> dict:
        return self.definition(name).get("properties") or {}

    def nested(self, name: str) -> _Scope | None:
        """The scope of a template resource's nested stack; None for a plain resource."""
        mapped = self.mapped_type(name)
        if mapped not in self.stack.files:
            return None
        params = {k: self.resolve(v) for k, v in self.properties(name).items()}
        return _Scope(self.cloud, self.stack, self.path + (name,),
                      self.cloud.parse(self.stack.files[mapped]), params)

    def group(self, name: str) -> _Group:
        return self.stack.groups.setdefault("/".join(self.path + (name,)), _Group())

    def member(self, group: str, member: str) -> _Scope | None:
        key = (group, member)
        if key not in self._members:
            definition = self.properties(group)["resource_def"]
            rtype = definition["type"]
            mapped = self.stack.registry.get(rtype, rtype)
            if mapped not in self.stack.files:
                self._members[key] = None
            else:
                props = _replace_index(definition.get("properties") or {}, member)
                params = {k: self.resolve(v) for k, v in props.items()}
                self._members[key] = _Scope(self.cloud, self.stack,
                                            self.path + (group, member),
                                            self.cloud.parse(self.stack.files[mapped]), params)
        return self._members[key]

    def attr(self, name: str, attrs: list[Any]) -> Any:
        mapped = self.mapped_type(name)
        if mapped == _NONE:
            return None
        if mapped == _GROUP:
            members = self.group(name).members
            if attrs and attrs[0] == "attributes":
                return {m: _walk(self._member_output(name, m, attrs[1]), attrs[2:])
                        for m in members}
            if attrs and str(attrs[0]).startswith("resource."):  # one member: resource.<n>
                member = str(attrs[0])[len("resource."):]
                if member not in members or len(attrs) < 2:
                    return None
                return _walk(self._member_output(name, member, attrs[1]), attrs[2:])
            if attrs and attrs[0] == "refs":
                return [self.cloud.uid(self.stack, self.path + (name, m), "stack")
                        for m in members]
            return [_walk(self._member_output(name, m, attrs[0]), attrs[1:]) for m in members]
        nested = self.nested(name)
        if nested is not None:
            return _walk(nested.output(attrs[0]), attrs[1:])
        return _walk(self._leaf_attr(name, mapped, attrs[0]), attrs[1:])

    def _member_output(self, group: str, member: str, key: str) -> Any:
        scope = self.member(group, member)
        return None if scope is None else scope.output(key)

    def ref(self, name: str) -> Any:
        mapped = self.mapped_type(name)
        if mapped == _NONE:
            return None
        return self.cloud.uid(self.stack, self.path + (name,),
                              "stack" if mapped in self.stack.files or mapped == _GROUP
                              else "resource")

    def _leaf_attr(self, name: str, mapped: str, attr: str) -> Any:
        path = self.path + (name,)
        if mapped == "OS::Nova::Server":
            if attr == "name":
                return self.resolve(self.properties(name).get("name"))
            if attr in ("first_address", "networks"):
                return None
        if mapped == "OS::Heat::SoftwareDeployment":
            return self.cloud.deployment_outputs.get(attr)
        if mapped == "OS::Neutron::Port" and attr == "fixed_ips":
            fixed = self.resolve(self.properties(name).get("fixed_ips") or [{}])
            return [{"ip_address": self.cloud.address(self.stack, path, "private"),
                     "subnet_id": (fixed[0] or {}).get("subnet")}]
        if mapped == "OS::Neutron::FloatingIP" and attr == "floating_ip_address":
            return self.cloud.address(self.stack, path, "floating")
        if mapped == "OS::Octavia::LoadBalancer":
            if attr == "vip_address":
                return self.cloud.address(self.stack, path, "private")
            if attr == "vip_port_id":
                return self.cloud.uid(self.stack, path, "vip_port")
        return None


def _yaql_or(expression: str, data: Any) -> Any:
    """The one yaql form the templates use, `$.data.a or $.data.b or ''`: the first operand
    that is truthy, else the last (yaql's `or`, like Python's)."""
    value: Any = None
    for term in (t.strip() for t in expression.split(" or ")):
        if term == "''":
            value = ""
        elif term.startswith("$.data."):
            value = (data or {}).get(term[len("$.data."):])
        else:
            raise NotImplementedError(f"the fake Heat does not evaluate yaql {expression!r}")
        if value:
            return value
    return value


def _walk(value: Any, keys: list[Any]) -> Any:
    for key in keys:
        if value is None:
            return None
        if isinstance(value, list):
            value = value[int(key)] if int(key) < len(value) else None
        else:
            value = value.get(key)
    return value


def _replace_index(value: Any, member: str) -> Any:
    if isinstance(value, str):
        return value.replace("%index%", member)
    if isinstance(value, dict):
        return {k: _replace_index(v, member) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_index(v, member) for v in value]
    return value


class FakeHeatCloud:
    """Every project's stacks; hands out clients; lets tests move stacks along."""

    def __init__(self, max_resources_per_stack: int = 1000,
                 complete_after: int | None = None) -> None:
        self.lock = threading.RLock()
        self.max_resources_per_stack = max_resources_per_stack
        #: Observations (list/get) after which an in-progress stack completes; None: never
        #: on its own (complete()/fail() only).
        self.complete_after = complete_after
        self._by_id: dict[str, FakeStack] = {}
        self._live: dict[tuple[str, str], FakeStack] = {}
        self._unreachable: str | None = None
        self._injected: dict[str, list[Exception]] = {}
        self._answers_lost: dict[str, int] = {}
        self._planned: dict[str, tuple[str | None, str]] = {}
        self._parsed: dict[str, dict] = {}
        self._counts: dict[tuple, int] = {}
        self._private = itertools.count(10)
        self._floating = itertools.count(10)
        #: (method, stack name or id, extra) of every call that reached the fake Heat.
        self.calls: list[tuple[str, str, Any]] = []
        #: What every OS::Heat::SoftwareDeployment reports as its outputs (by name), as a
        #: guest's script would; an output not here is None.
        self.deployment_outputs: dict[str, Any] = {}

    # -- clients -------------------------------------------------------------------------

    def client_for(self, context: Any) -> FakeHeatClient:
        """A client acting in `context.project_id` (the signature of get_heat_client)."""
        return FakeHeatClient(self, context.project_id)

    def install(self, monkeypatch: Any) -> FakeHeatCloud:
        """Make magnum_lite.common.clients.get_heat_client hand out this cloud's clients."""
        from magnum_lite.common import clients
        monkeypatch.setattr(clients, "get_heat_client", self.client_for)
        return self

    # -- test controls -------------------------------------------------------------------

    def set_unreachable(self, unreachable: bool = True,
                        message: str = "Connection refused") -> None:
        """Every call raises keystoneauth's ConnectFailure until set_unreachable(False)."""
        with self.lock:
            self._unreachable = message if unreachable else None

    @contextlib.contextmanager
    def outage(self, message: str = "Connection refused") -> Iterator[None]:
        self.set_unreachable(True, message)
        try:
            yield
        finally:
            self.set_unreachable(False)

    def lose_answers(self, method: str, count: int = 1) -> None:
        """The next `count` calls of `method` (only "stacks.create") are done, but their
        answer never arrives: the client gets keystoneauth's ConnectTimeout (a read timeout)."""
        with self.lock:
            self._answers_lost[method] = self._answers_lost.get(method, 0) + count

    def inject(self, method: str, error: Exception) -> None:
        """The next call of `method` ("stacks.create", "resources.list", ...) raises `error`."""
        with self.lock:
            self._injected.setdefault(method, []).append(error)

    def stack(self, name_or_id: str) -> FakeStack:
        """A stack by id (deleted ones too) or by live name, of any project."""
        with self.lock:
            if name_or_id in self._by_id:
                return self._by_id[name_or_id]
            for (_project, name), stack in self._live.items():
                if name == name_or_id:
                    return stack
        raise KeyError(name_or_id)

    def live_stacks(self, project_id: str | None = None) -> list[FakeStack]:
        with self.lock:
            return [s for (p, _n), s in self._live.items()
                    if project_id is None or p == project_id]

    def complete(self, name_or_id: str) -> FakeStack:
        """Finish the stack's action in progress successfully."""
        with self.lock:
            stack = self.stack(name_or_id)
            if not stack.in_progress:
                raise ValueError(f"stack {stack.name} is {stack.status}, not in progress")
            self._finish(stack)
            return stack

    def resources_done(self, name_or_id: str, *resources: str,
                       all_but: tuple[str, ...] | None = None) -> FakeStack:
        """Let these top-level resources of a stack in progress finish (with `all_but`,
        every one but those)."""
        with self.lock:
            stack = self.stack(name_or_id)
            if not stack.in_progress:
                raise ValueError(f"stack {stack.name} is {stack.status}, not in progress")
            names = set(resources)
            if all_but is not None:
                names |= set(stack.template.get("resources") or {}) - set(all_but)
            stack.done.update(names)
            return stack

    def complete_all(self, prefix: str = "") -> int:
        """Finish every in-progress stack whose name starts with `prefix`; how many."""
        with self.lock:
            todo = [s for s in self._live.values() if s.in_progress
                    and s.name.startswith(prefix)]
            for stack in todo:
                self._finish(stack)
            return len(todo)

    def fail(self, name_or_id: str, resource: str | None = None,
             message: str = "Unknown error") -> FakeStack:
        """End the stack's action in failure, at `resource`: a dotted path through the
        templates, e.g. "nodes.0.server" (ResourceGroup, member, resource of the member's
        template) or "network"; None fails the stack without a failed resource."""
        with self.lock:
            stack = self.stack(name_or_id)
            path = resource.split(".") if resource else None
            if path:
                self._chain(stack, path)  # a wrong path is the test's error: say it now
            stack.state = "FAILED"
            stack.failed_path = path
            stack.failed_message = message
            stack.reason = (f"Resource {stack.action} failed: "
                            + (self._reason(path, message) if path else message))
            return stack

    def fail_on_completion(self, name: str, resource: str | None, message: str) -> None:
        """The next action of stack `name` that would complete fails like `fail` instead."""
        with self.lock:
            self._planned[name] = (resource, message)

    def server_user_data(self, name_or_id: str, member: str, group: str | None = None
                         ) -> str:
        """What the member's server boots with (the upgraded user data once a rolling upgrade
        listed it in `upgraded_members`), after Heat's str_replace of the node index,
        the control plane host (a private address) and the public host (the given one, else
        the node's floating IP, else its private address: node.yaml's yaql)."""
        with self.lock:
            stack = self.stack(name_or_id)
            top = self._scope(stack)
            group = group or next(n for n in (stack.template.get("resources") or {})
                                  if top.mapped_type(n) == _GROUP)
            node = top.member(group, member)
            if node is None:
                raise ValueError(f"{group} members are not template resources")
            private = node.attr("port", ["fixed_ips", 0, "ip_address"])
            host = node.param("control_plane_host") or private
            public = node.param("public_host") or node.attr("floating_ip", ["address"]) \
                or private
            # node.yaml: a member a rolling upgrade moved boots the upgraded user data.
            upgraded = [str(m) for m in node.param("upgraded_members") or []]
            text = node.param("upgraded_user_data" if member in upgraded else "user_data")
            return (text.replace("__NODE_INDEX__", member)
                    .replace("__CONTROL_PLANE_HOST__", host)
                    .replace("__PUBLIC_HOST__", public))

    def resource_count(self, name_or_id: str) -> int:
        """Heat's count of the stack's whole tree (what max_resources_per_stack limits)."""
        with self.lock:
            stack = self.stack(name_or_id)
            return self._count(stack.template, stack.files, stack.registry, stack.parameters)

    def outputs(self, name_or_id: str) -> dict[str, Any]:
        with self.lock:
            stack = self.stack(name_or_id)
            return {o["output_key"]: o["output_value"] for o in self._outputs(stack)}

    # -- helpers the fake itself uses ----------------------------------------------------

    def uid(self, stack: FakeStack, path: tuple[str, ...], kind: str) -> str:
        if not path and kind == "stack":
            return stack.id
        replaced = stack.replacements.get(path, 0)
        suffix = f"#{replaced}" if replaced else ""
        return str(uuid.uuid5(_NAMESPACE, f"{stack.id}/{'/'.join(path)}/{kind}{suffix}"))

    def address(self, stack: FakeStack, path: tuple[str, ...], kind: str) -> str:
        key = (path, kind)
        if key not in stack.memo:
            if kind == "floating":
                n = next(self._floating)
                stack.memo[key] = f"127.{n // 62500 % 250}.{n // 250 % 250}.{n % 250 + 3}"
            else:
                n = next(self._private)
                stack.memo[key] = f"10.{n // 62500 % 250}.{n // 250 % 250}.{n % 250 + 1}"
        return stack.memo[key]

    def parse(self, text: str) -> dict:
        parsed = self._parsed.get(text)
        if parsed is None:
            parsed = self._parsed[text] = yaml.safe_load(text) or {}
        return parsed

    def _scope(self, stack: FakeStack) -> _Scope:
        return _Scope(self, stack, (), stack.template, stack.parameters)

    def _check(self, method: str, target: str, extra: Any = None) -> None:
        """Outage and injected errors, then record the call (under the lock)."""
        if self._unreachable is not None:
            # As keystoneauth raises it: the connection was never made (urllib3 says so
            # underneath), so no request reached Heat.
            refused = urllib3_exceptions.NewConnectionError(
                None, f"Failed to establish a new connection: {self._unreachable}")
            raise ks_exceptions.ConnectFailure(
                f"Unable to establish connection to {ENDPOINT}/{target}: "
                f"{self._unreachable}") from refused
        queue = self._injected.get(method)
        if queue:
            raise queue.pop(0)
        self.calls.append((method, target, extra))

    def _find(self, project_id: str, name_or_id: str, deleted: bool = False) -> FakeStack:
        stack = self._by_id.get(name_or_id)
        if stack is not None and stack.project_id == project_id and (deleted or
                                                                     not stack.deleted):
            return stack
        stack = self._live.get((project_id, name_or_id))
        if stack is None:
            raise not_found(name_or_id)
        return stack

    def _observe(self, stack: FakeStack) -> None:
        if stack.in_progress and self.complete_after is not None:
            stack.observations += 1
            if stack.observations >= self.complete_after:
                self._finish(stack)

    def _finish(self, stack: FakeStack) -> None:
        planned = self._planned.pop(stack.name, None)
        if planned is not None and stack.action != "DELETE":
            self.fail(stack.id, planned[0], planned[1])
            return
        stack.state = "COMPLETE"
        stack.reason = f"Stack {stack.action} completed successfully"
        stack.failed_path = None
        if stack.action == "UPDATE":
            # Heat replaces every CHECK_FAILED resource an update meets (each nested stack
            # of an updated stack is updated too).
            for path in stack.unhealthy:
                stack.replacements[path] = stack.replacements.get(path, 0) + 1
            if stack.unhealthy:
                stack.generation += 1
            stack.unhealthy.clear()
        if stack.action == "DELETE":
            stack.deleted = True
            stack.deletion_time = _now()
            self._live.pop((stack.project_id, stack.name), None)

    def _begin(self, stack: FakeStack, action: str) -> None:
        stack.action, stack.state = action, "IN_PROGRESS"
        stack.reason = f"Stack {action} started"
        stack.observations = 0
        stack.failed_path = None
        stack.done = set()

    # -- templates -----------------------------------------------------------------------

    def _validate_parameters(self, template: dict, parameters: dict[str, Any]) -> None:
        declared = template.get("parameters") or {}
        for name in parameters:
            if name not in declared:
                raise bad_request("UnknownUserParameter",
                                  f"The Parameter ({name}) was not defined in template.")
        for name, spec in declared.items():
            if name not in parameters:
                if "default" not in spec:
                    raise bad_request("UserParameterMissing",
                                      f"The Parameter ({name}) was not provided.")
                continue
            value = parameters[name]
            kind = spec.get("type", "string")
            if kind == "number":
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise bad_request("StackValidationFailed",
                                      f"Parameter '{name}' is invalid: could not convert "
                                      f"string to float: '{value}'") from None
                for constraint in spec.get("constraints") or []:
                    bounds = constraint.get("range") or {}
                    if ("min" in bounds and number < bounds["min"]) or (
                            "max" in bounds and number > bounds["max"]):
                        raise bad_request("StackValidationFailed",
                                          f"Parameter '{name}' is invalid: {value} is out "
                                          f"of range {bounds}.")
            elif kind == "json" and isinstance(value, str):
                try:
                    json.loads(value)
                except ValueError:
                    raise bad_request("StackValidationFailed",
                                      f"Parameter '{name}' is invalid: not JSON") from None
            elif kind == "string" and not isinstance(value, (str, int, float)):
                raise bad_request("StackValidationFailed",
                                  f"Parameter '{name}' is invalid: Value must be a string")

    def _count(self, template: dict, files: dict[str, str], registry: dict[str, str],
               parameters: dict[str, Any]) -> int:
        total = 0
        declared = template.get("parameters") or {}
        for definition in (template.get("resources") or {}).values():
            total += 1
            mapped = registry.get(definition["type"], definition["type"])
            if mapped == _GROUP:
                props = definition.get("properties") or {}
                count = props.get("count", 1)
                if isinstance(count, dict) and "get_param" in count:
                    name = count["get_param"]
                    count = parameters.get(name, (declared.get(name) or {}).get("default", 0))
                member_type = props["resource_def"]["type"]
                total += int(float(count)) * (
                    1 + self._nested_count(registry.get(member_type, member_type), files,
                                           registry))
            elif mapped in files:
                total += self._nested_count(mapped, files, registry)
        return total

    def _nested_count(self, mapped: str, files: dict[str, str],
                      registry: dict[str, str]) -> int:
        if mapped not in files:
            return 0
        key = (files[mapped], tuple(sorted(registry.items())))
        if key not in self._counts:
            self._counts[key] = self._count(self.parse(files[mapped]), files, registry, {})
        return self._counts[key]

    def _apply_groups(self, stack: FakeStack) -> None:
        """Size every top-level ResourceGroup from the parameters, honouring removals."""
        stack.generation += 1
        scope = self._scope(stack)
        for name, definition in (stack.template.get("resources") or {}).items():
            if scope.mapped_type(name) != _GROUP:
                continue
            props = definition.get("properties") or {}
            group = scope.group(name)
            for policy in scope.resolve(props.get("removal_policies")) or []:
                for entry in policy.get("resource_list") or []:
                    entry = str(entry)
                    refs = {self.uid(stack, (name, m), "stack"): m for m in group.members}
                    if entry in group.members:
                        group.blacklist.add(entry)
                    elif entry in refs:
                        group.blacklist.add(refs[entry])
            group.resize(int(float(scope.resolve(props.get("count", 1)))))

    def _outputs(self, stack: FakeStack) -> list[dict[str, Any]]:
        if stack.outputs_cache is None or stack.outputs_cache[0] != stack.generation:
            scope = self._scope(stack)
            stack.outputs_cache = (stack.generation, [
                {"output_key": key, "output_value": scope.output(key),
                 "description": (spec or {}).get("description", "No description given")}
                for key, spec in (stack.template.get("outputs") or {}).items()])
        return [dict(o) for o in stack.outputs_cache[1]]

    def _shown_parameters(self, stack: FakeStack) -> dict[str, str]:
        declared = stack.template.get("parameters") or {}
        shown = {"OS::stack_id": stack.id, "OS::stack_name": stack.name,
                 "OS::project_id": stack.project_id}
        for name, spec in declared.items():
            value = stack.parameters.get(name, spec.get("default"))
            shown[name] = "******" if spec.get("hidden") else _as_text(spec.get("type"), value)
        return shown

    # -- failed resources ----------------------------------------------------------------

    def _chain(self, stack: FakeStack, path: list[str]) -> list[dict[str, Any]]:
        """The resources from the top stack down to path[-1]: name, type, the stack they
        are in, and the nested stack they own."""
        chain = []
        scope: _Scope | None = self._scope(stack)
        parent = (stack.id, stack.name)
        i = 0
        while i < len(path):
            if scope is None:
                raise ValueError(f"{'.'.join(path)}: {path[i - 1]} has no nested stack")
            name = path[i]
            definition = scope.definition(name)
            mapped = scope.mapped_type(name)
            entry = {"name": name, "type": definition["type"], "stack": parent,
                     "nested": None}
            chain.append(entry)
            if mapped == _GROUP and i + 1 < len(path):
                group_id = self.uid(stack, scope.path + (name,), "stack")
                group_name = f"{parent[1]}-{name}-{group_id[:12]}"
                entry["nested"] = (group_id, group_name)
                member = path[i + 1]
                member_type = scope.properties(name)["resource_def"]["type"]
                member_scope = scope.member(name, member)
                member_entry = {"name": member, "type": member_type,
                                "stack": (group_id, group_name), "nested": None}
                chain.append(member_entry)
                if member_scope is not None and i + 2 < len(path):
                    nested_id = self.uid(stack, member_scope.path, "stack")
                    member_entry["nested"] = (nested_id,
                                              f"{group_name}-{member}-{nested_id[:12]}")
                    parent = member_entry["nested"]
                scope = member_scope
                i += 2
                continue
            nested = scope.nested(name)
            if nested is not None and i + 1 < len(path):
                nested_id = self.uid(stack, nested.path, "stack")
                entry["nested"] = (nested_id, f"{parent[1]}-{name}-{nested_id[:12]}")
                parent = entry["nested"]
            scope = nested
            i += 1
        return chain

    @staticmethod
    def _reason(path: list[str], message: str) -> str:
        dotted = ".".join(f"resources[{p}]" if p.isdigit() else f"resources.{p}"
                          for p in path)
        return f"Error: {dotted}: {message}"

    def _resources(self, stack: FakeStack, nested_depth: int) -> list[dict[str, Any]]:
        """The stack's own resources and, when it failed at a resource, the failed chain
        down to it (nested stacks' resources up to `nested_depth` levels down)."""
        chain: list[dict[str, Any]] = []
        if stack.state == "FAILED" and stack.failed_path:
            chain = self._chain(stack, stack.failed_path)
        failed_top = {e["name"] for e in chain if e["stack"][0] == stack.id}
        status = f"{stack.action}_{'IN_PROGRESS' if stack.in_progress else 'COMPLETE'}"
        done = f"{stack.action}_COMPLETE"
        listed = [self._resource_info(stack, name, definition["type"],
                                      (stack.id, stack.name), None,
                                      done if name in stack.done else status, "")
                  for name, definition in (stack.template.get("resources") or {}).items()
                  if name not in failed_top]
        skip = {(e["stack"][0], e["name"]) for e in chain}
        listed += self._nested_resources(stack, self._scope(stack), (stack.id, stack.name),
                                         nested_depth, skip)
        depth, owner = 0, stack.id
        for i, entry in enumerate(chain):
            if entry["stack"][0] != owner:
                depth, owner = depth + 1, entry["stack"][0]
            if depth > nested_depth:
                break
            reason = (stack.failed_message if i == len(chain) - 1 else
                      self._reason(stack.failed_path[i:], stack.failed_message))
            listed.append(self._resource_info(stack, entry["name"], entry["type"],
                                              entry["stack"], entry["nested"],
                                              f"{stack.action}_FAILED", reason))
        return listed

    def _resource_info(self, stack: FakeStack, name: str, rtype: str,
                       owner: tuple[str, str], nested: tuple[str, str] | None, status: str,
                       reason: str, path: tuple[str, ...] | None = None,
                       physical_id: str | None = None) -> dict[str, Any]:
        if path is not None and path in stack.unhealthy:
            status, reason = "CHECK_FAILED", stack.unhealthy[path]
        owner_link = f"{ENDPOINT}/{stack.project_id}/stacks/{owner[1]}/{owner[0]}"
        links = [{"href": f"{owner_link}/resources/{name}", "rel": "self"},
                 {"href": owner_link, "rel": "stack"}]
        if nested is not None:
            links.append({"href": f"{ENDPOINT}/{stack.project_id}/stacks/{nested[1]}/"
                                  f"{nested[0]}", "rel": "nested"})
        return {"resource_name": name, "logical_resource_id": name, "resource_type": rtype,
                "physical_resource_id": nested[0] if nested else
                physical_id or self.uid(stack, (owner[0], name), "resource"),
                "resource_status": status, "resource_status_reason": reason or
                "state changed", "creation_time": stack.creation_time,
                "updated_time": stack.updated_time or stack.creation_time,
                "required_by": [], "links": links,
                **({"parent_resource": None} if owner[0] == stack.id else {})}

    # -- the API -------------------------------------------------------------------------

    def api_list(self, manager: Any, project_id: str, kwargs: dict[str, Any]
                 ) -> list[heat_stacks.Stack]:
        with self.lock:
            self._check("stacks.list", project_id, dict(kwargs))
            filters = dict(kwargs.get("filters") or {})
            wanted_tags = kwargs.get("tags")
            if isinstance(wanted_tags, str):
                wanted_tags = [t for t in wanted_tags.split(",") if t]
            result = []
            for (project, _name), stack in list(self._live.items()):
                if project != project_id:
                    continue
                if wanted_tags and not set(wanted_tags) <= set(stack.tags):
                    continue
                self._observe(stack)
                if stack.deleted:
                    continue
                info = self._summary(stack)
                if any(str(info.get(k)) != str(v) for k, v in filters.items()):
                    continue
                result.append(heat_stacks.Stack(manager, info, loaded=True))
            return result

    def _summary(self, stack: FakeStack) -> dict[str, Any]:
        return {"id": stack.id, "stack_name": stack.name, "stack_status": stack.status,
                "stack_status_reason": stack.reason, "creation_time": stack.creation_time,
                "updated_time": stack.updated_time, "deletion_time": stack.deletion_time,
                "description": stack.template.get("description", ""),
                "tags": list(stack.tags) or None, "stack_owner": None, "parent": None,
                "stack_user_project_id": stack.project_id, "project": stack.project_id,
                "links": [{"href": stack.link(), "rel": "self"}]}

    def api_get(self, manager: Any, project_id: str, name_or_id: str,
                resolve_outputs: bool) -> heat_stacks.Stack:
        with self.lock:
            self._check("stacks.get", name_or_id)
            stack = self._find(project_id, name_or_id, deleted=True)
            self._observe(stack)
            info = self._summary(stack)
            info.update({"parameters": self._shown_parameters(stack),
                         "disable_rollback": stack.disable_rollback,
                         "timeout_mins": stack.timeout_mins, "capabilities": [],
                         "notification_topics": [],
                         "template_description": stack.template.get("description", "")})
            if resolve_outputs:
                info["outputs"] = [] if stack.deleted else self._outputs(stack)
            return heat_stacks.Stack(manager, info, loaded=True)

    def _new_stack(self, project_id: str, fields: dict[str, Any]) -> FakeStack:
        name = fields.get("stack_name")
        if not name:
            raise bad_request("StackValidationFailed", "Property stack_name not assigned")
        template = fields.get("template")
        if isinstance(template, str):
            template = self.parse(template)
        if not isinstance(template, dict) or "heat_template_version" not in template:
            raise bad_request("StackValidationFailed", "Template format version not found.")
        environment = fields.get("environment") or {}
        if isinstance(environment, str):
            environment = self.parse(environment)
        files = dict(fields.get("files") or {})
        registry = dict(environment.get("resource_registry") or {})
        for rtype, mapped in registry.items():
            if mapped != _NONE and not mapped.startswith("OS::") and mapped not in files:
                raise bad_request("StackValidationFailed",
                                  f"Could not fetch remote template \"{mapped}\" for "
                                  f"{rtype}")
        parameters = {**(environment.get("parameters") or {}),
                      **(fields.get("parameters") or {})}
        self._validate_parameters(template, parameters)
        tags = fields.get("tags") or []
        if isinstance(tags, str):
            tags = [t for t in tags.split(",") if t]
        return FakeStack(id=str(uuid.uuid4()), name=name, project_id=project_id,
                         template=template, files=files, registry=registry,
                         parameters=parameters, tags=list(tags),
                         timeout_mins=fields.get("timeout_mins"),
                         disable_rollback=bool(fields.get("disable_rollback", True)))

    def api_create(self, project_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._check("stacks.create", fields.get("stack_name", ""),
                        fields.get("parameters"))
            stack = self._new_stack(project_id, fields)
            if (project_id, stack.name) in self._live:
                raise _http_error(heat_exc.HTTPConflict, "StackExists",
                                  f"The Stack ({stack.name}) already exists.", "Conflict")
            self._by_id[stack.id] = stack
            self._live[(project_id, stack.name)] = stack
            self._apply_groups(stack)
            if self.resource_count(stack.id) > self.max_resources_per_stack:
                self._over_limit(stack)
            if self._answers_lost.get("stacks.create", 0):
                self._answers_lost["stacks.create"] -= 1
                raise ks_exceptions.ConnectTimeout(
                    f"Request to {ENDPOINT}/stacks timed out")  # made, the answer lost
            return {"stack": {"id": stack.id, "links": [{"href": stack.link(),
                                                          "rel": "self"}]}}

    def _over_limit(self, stack: FakeStack) -> None:
        scope = self._scope(stack)
        groups = [n for n in (stack.template.get("resources") or {})
                  if scope.mapped_type(n) == _GROUP]
        self.fail(stack.id, groups[0] if groups else None,
                  "Request limit exceeded: Maximum resources per stack exceeded.")

    def api_preview(self, manager: Any, project_id: str, fields: dict[str, Any]
                    ) -> heat_stacks.Stack:
        with self.lock:
            self._check("stacks.preview", fields.get("stack_name", ""))
            stack = self._new_stack(project_id, fields)
            if (project_id, stack.name) in self._live:
                raise _http_error(heat_exc.HTTPConflict, "StackExists",
                                  f"The Stack ({stack.name}) already exists.", "Conflict")
            if self._count(stack.template, stack.files, stack.registry,
                           stack.parameters) > self.max_resources_per_stack:
                raise limit_exceeded()
            self._apply_groups(stack)
            info = self._summary(stack)
            info.update({"id": "None", "parameters": self._shown_parameters(stack),
                         "disable_rollback": stack.disable_rollback,
                         "timeout_mins": stack.timeout_mins, "capabilities": [],
                         "notification_topics": [], "stack_status": None,
                         "stack_status_reason": None,
                         "template_description": stack.template.get("description", ""),
                         "resources": self._preview_resources(self._scope(stack))})
            return heat_stacks.Stack(manager, info, loaded=True)

    def _preview_resources(self, scope: _Scope) -> list[Any]:
        """Heat's preview: a resource's dict, or a list for a nested stack's resources."""
        out: list[Any] = []
        for name, definition in (scope.template.get("resources") or {}).items():
            mapped = scope.mapped_type(name)
            entry = {"resource_name": name, "resource_type": definition["type"],
                     "resource_identity": {"stack_name": scope.stack.name,
                                           "path": f"/resources/{name}"},
                     "stack_name": scope.stack.name, "metadata": {}, "required_by": [],
                     "description": "", "resource_action": "INIT",
                     "resource_status": "COMPLETE", "physical_resource_id": ""}
            if mapped == _GROUP:
                out.append([entry] + [
                    [{"resource_name": m, "resource_type":
                      scope.properties(name)["resource_def"]["type"],
                      "stack_name": scope.stack.name}]
                    + (self._preview_resources(member) if (
                        member := scope.member(name, m)) is not None else [])
                    for m in scope.group(name).members])
            else:
                out.append(entry)
        return out

    def api_update(self, project_id: str, stack_id: str, fields: dict[str, Any]) -> None:
        with self.lock:
            existing = bool(fields.pop("existing", False))
            self._check("stacks.update", stack_id, fields.get("parameters"))
            stack = self._find(project_id, stack_id)
            if stack.action == "DELETE":
                raise bad_request("NotSupported",
                                  "Updating a stack when it is deleting is not supported.")
            if existing:
                template = stack.template
                if fields.get("template"):
                    template = fields["template"]
                parameters = {**stack.parameters, **(fields.get("parameters") or {})}
                for name in fields.get("clear_parameters") or []:
                    parameters.pop(name, None)
            else:
                template = fields.get("template")
                if not template:
                    raise bad_request("StackValidationFailed",
                                      "Template format version not found.")
                parameters = dict(fields.get("parameters") or {})
            if isinstance(template, str):
                template = self.parse(template)
            self._validate_parameters(template, parameters)
            stack.template, stack.parameters = template, parameters
            if fields.get("files"):
                stack.files = {**stack.files, **fields["files"]}
            if fields.get("environment"):
                stack.registry = {**stack.registry,
                                  **(fields["environment"].get("resource_registry") or {})}
            if "disable_rollback" in fields:
                stack.disable_rollback = bool(fields["disable_rollback"])
            if fields.get("timeout_mins"):
                stack.timeout_mins = fields["timeout_mins"]
            stack.updated_time = _now()
            self._begin(stack, "UPDATE")
            self._apply_groups(stack)
            if self.resource_count(stack.id) > self.max_resources_per_stack:
                self._over_limit(stack)

    def api_preview_update(self, project_id: str, stack_id: str,
                           fields: dict[str, Any]) -> dict[str, Any]:
        """PATCH /stacks/{id}/preview: what an update with these parameters would change.

        Heat answers {"resource_changes": {"added", "deleted", "replaced", "unchanged",
        "updated"}}, each a list of resources; with show_nested, a group's members appear
        as resources of their own.
        """
        with self.lock:
            self._check("stacks.preview_update", stack_id, fields.get("parameters"))
            stack = self._find(project_id, stack_id)
            trial = copy.deepcopy(stack)
            trial.parameters = {**stack.parameters, **(fields.get("parameters") or {})}
            self._validate_parameters(trial.template, trial.parameters)
            self._apply_groups(trial)
            changes: dict[str, list[dict[str, Any]]] = {
                "added": [], "deleted": [], "replaced": [], "unchanged": [], "updated": []}
            for key, group in stack.groups.items():
                after = trial.groups[key].members
                for member in after:
                    kind = "unchanged" if member in group.members else "added"
                    changes[kind].append({"resource_name": member, "parent_resource": key})
                for member in group.members:
                    if member not in after:
                        changes["deleted"].append({"resource_name": member,
                                                   "parent_resource": key})
                if list(after) != list(group.members):
                    changes["updated"].append({"resource_name": key})
            return {"resource_changes": changes}

    def api_delete(self, project_id: str, stack_id: str) -> None:
        with self.lock:
            self._check("stacks.delete", stack_id)
            stack = self._find(project_id, stack_id)
            if stack.action == "DELETE" and stack.in_progress:
                return
            self._begin(stack, "DELETE")

    def _nested_stack(self, project_id: str, stack_id: str
                      ) -> tuple[FakeStack, _Scope] | None:
        """A group's member stack by id (or "name/id"): its top stack and scope."""
        wanted = stack_id.rsplit("/", 1)[-1]
        for (project, _name), stack in self._live.items():
            if project != project_id:
                continue
            top = self._scope(stack)
            for group in (stack.template.get("resources") or {}):
                if top.mapped_type(group) != _GROUP:
                    continue
                for member in top.group(group).members:
                    scope = top.member(group, member)
                    if scope is not None and self.uid(stack, scope.path, "stack") == wanted:
                        return stack, scope
        return None

    def api_mark_unhealthy(self, project_id: str, stack_id: str, resource_name: str,
                           mark_unhealthy: bool, reason: str | None) -> None:
        """PATCH /stacks/{stack}/resources/{resource}: CHECK_FAILED (or back to
        CHECK_COMPLETE); the resource by name or physical id, in that very stack."""
        with self.lock:
            self._check("resources.mark_unhealthy", stack_id,
                        {"resource": resource_name, "mark_unhealthy": mark_unhealthy,
                         "reason": reason})
            if not isinstance(mark_unhealthy, bool):
                raise bad_request("Invalid", "mark_unhealthy is not a boolean")
            found = self._nested_stack(project_id, stack_id)
            if found is None:
                top = self._find(project_id, stack_id.rsplit("/", 1)[-1])
                found = (top, self._scope(top))
            stack, scope = found
            names = {n: n for n in (scope.template.get("resources") or {})}
            names.update({scope.ref(n): n for n in list(names) if scope.ref(n)})
            if resource_name not in names:
                raise _http_error(heat_exc.HTTPNotFound, "ResourceNotFound",
                                  f"The Resource ({resource_name}) could not be found.",
                                  "Not Found")
            if stack.in_progress:
                raise _http_error(heat_exc.HTTPConflict, "ActionInProgress",
                                  f"Stack {stack.name} already has an action "
                                  f"({stack.action}) in progress.", "Conflict")
            path = scope.path + (names[resource_name],)
            if mark_unhealthy:
                stack.unhealthy[path] = reason or "state changed by resource_mark_unhealthy api"
            else:
                stack.unhealthy.pop(path, None)

    def _nested_resources(self, stack: FakeStack, scope: _Scope, owner: tuple[str, str],
                          depth: int, skip: set[tuple[str, str]]) -> list[dict[str, Any]]:
        """The resources of the nested stacks below `scope` (whose own resources the
        caller lists) down to `depth` more levels: groups' members, then what each member's
        template holds; a CHECK_FAILED one says so."""
        listed: list[dict[str, Any]] = []
        if depth < 1:
            return listed
        for name in (scope.template.get("resources") or {}):
            mapped = scope.mapped_type(name)
            if mapped != _GROUP:
                continue
            group_id = self.uid(stack, scope.path + (name,), "stack")
            group = (group_id, f"{owner[1]}-{name}-{group_id[:12]}")
            member_type = scope.properties(name)["resource_def"]["type"]
            for member in scope.group(name).members:
                member_scope = scope.member(name, member)
                nested = None
                if member_scope is not None:
                    nested_id = self.uid(stack, member_scope.path, "stack")
                    nested = (nested_id, f"{group[1]}-{member}-{nested_id[:12]}")
                if (group_id, member) not in skip:
                    listed.append(self._resource_info(
                        stack, member, member_type, group, nested,
                        f"{stack.action}_COMPLETE", "", path=scope.path + (name, member)))
                if member_scope is None or nested is None or depth < 2:
                    continue
                for inner in (member_scope.template.get("resources") or {}):
                    if (nested[0], inner) in skip:
                        continue
                    listed.append(self._resource_info(
                        stack, inner, member_scope.definition(inner)["type"], nested, None,
                        f"{stack.action}_COMPLETE", "", path=member_scope.path + (inner,),
                        physical_id=member_scope.ref(inner)))
        return listed

    def api_resources(self, manager: Any, project_id: str, stack_id: str,
                      kwargs: dict[str, Any]) -> list[heat_resources.Resource]:
        with self.lock:
            self._check("resources.list", stack_id, dict(kwargs))
            stack = self._find(project_id, stack_id, deleted=True)
            filters = dict(kwargs.get("filters") or {})
            depth = int(kwargs.get("nested_depth") or 0)
            result = []
            for info in self._resources(stack, depth):
                action, _, state = info["resource_status"].partition("_")
                if "status" in filters and state not in _as_list(filters["status"]):
                    continue
                if "action" in filters and action not in _as_list(filters["action"]):
                    continue
                if "name" in filters and info["resource_name"] not in _as_list(
                        filters["name"]):
                    continue
                if "type" in filters and info["resource_type"] not in _as_list(
                        filters["type"]):
                    continue
                result.append(heat_resources.Resource(manager, info, loaded=True))
            return result


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _as_text(kind: str | None, value: Any) -> str:
    """A parameter value as Heat's stack show gives it (every value a string)."""
    if value is None:
        return "None"
    if kind == "json":
        return value if isinstance(value, str) else json.dumps(value)
    if kind == "comma_delimited_list":
        return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if kind == "boolean":
        return str(value).lower() in ("true", "1", "yes", "on") and "True" or "False"
    return str(value)


class _StackManager:
    """client.stacks: heatclient.v1.stacks.StackManager's calls the drivers make."""

    def __init__(self, cloud: FakeHeatCloud, project_id: str) -> None:
        self.cloud, self.project_id = cloud, project_id

    def list(self, **kwargs: Any) -> Iterator[heat_stacks.Stack]:
        # heatclient's list is a generator: nothing is asked until it is iterated.
        def paginate() -> Iterator[heat_stacks.Stack]:
            yield from self.cloud.api_list(self, self.project_id, kwargs)
        return paginate()

    def get(self, stack_id: str, resolve_outputs: bool = True) -> heat_stacks.Stack:
        return self.cloud.api_get(self, self.project_id, stack_id, resolve_outputs)

    def create(self, **kwargs: Any) -> dict[str, Any]:
        return self.cloud.api_create(self.project_id, kwargs)

    def preview(self, **kwargs: Any) -> heat_stacks.Stack:
        return self.cloud.api_preview(self, self.project_id, kwargs)

    def update(self, stack_id: str, **kwargs: Any) -> None:
        self.cloud.api_update(self.project_id, stack_id, kwargs)

    def preview_update(self, stack_id: str, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("show_nested", None)
        if not kwargs.pop("existing", False):
            raise bad_request("NotSupported", "the fake previews PATCH updates only")
        return self.cloud.api_preview_update(self.project_id, stack_id, kwargs)

    def delete(self, stack_id: str) -> None:
        self.cloud.api_delete(self.project_id, stack_id)


class _ResourceManager:
    """client.resources: heatclient.v1.resources.ResourceManager.list, mark_unhealthy."""

    def __init__(self, cloud: FakeHeatCloud, project_id: str) -> None:
        self.cloud, self.project_id = cloud, project_id

    def list(self, stack_id: str, **kwargs: Any) -> list[heat_resources.Resource]:
        return self.cloud.api_resources(self, self.project_id, stack_id, kwargs)

    def mark_unhealthy(self, stack_id: str, resource_name: str, mark_unhealthy: bool,
                       resource_status_reason: str) -> None:
        self.cloud.api_mark_unhealthy(self.project_id, stack_id, resource_name,
                                      mark_unhealthy, resource_status_reason)


class FakeHeatClient:
    """What `heatclient.client.Client("1", ...)` is to the drivers: .stacks, .resources."""

    def __init__(self, cloud: FakeHeatCloud, project_id: str) -> None:
        self.cloud = cloud
        self.project_id = project_id
        self.stacks = _StackManager(cloud, project_id)
        self.resources = _ResourceManager(cloud, project_id)
