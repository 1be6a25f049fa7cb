"""Policy enforcement: oslo.policy with the defaults of `magnum_lite.common.policies`.

One Enforcer per process, created on first use. oslo.policy re-reads an operator's policy file
only when it changes, so a request costs a rule evaluation, not a file parse.
"""

import functools
import threading
import time
from typing import Any
import warnings

from oslo_policy import policy as oslo_policy

from magnum_lite.common import exception, policies
from magnum_lite.conf import CONF

_ENFORCER: "Enforcer | None" = None
_LOCK = threading.Lock()

# Seconds between two looks for a changed policy file. oslo.policy looks on every check, and
# looking means searching the config directories for the file: a good part of a request.
RELOAD_INTERVAL = 2.0


# Decisions remembered per Enforcer before the memo starts over.
DECISION_MEMO_SIZE = 10000


def _frozen(values: Any) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items()))


@functools.cache
def _policy_value_attributes(context_type: type) -> tuple[str, ...] | None:
    """The names of the policy values of this type of context, when each value is the
    context's attribute of that name (oslo.context's and ours are); None otherwise.

    Found by setting every attribute to a marker and looking where each marker shows: a
    policy value computed from something else, or an attribute that cannot be set, leaves the
    memo key to the full `to_policy_values()`.
    """
    try:
        probe = context_type(overwrite=False)  # not the thread's current context
        names = tuple(sorted(probe.to_policy_values()))
        markers = {name: object() for name in names}
        for name, marker in markers.items():
            setattr(probe, name, marker)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated policy values
            values = probe.to_policy_values()
            if set(values) != set(names) or any(values[n] is not m for n, m in markers.items()):
                return None
    except Exception:  # a context type that cannot be probed: the full form
        return None
    return names


def _credentials_key(context: Any) -> tuple:
    """The caller's policy values (`to_policy_values()`, what oslo.policy decides on) as a
    hashable key, read from the context's attributes: building the policy values mapping
    and reading it back (with a DeprecationWarning per deprecated key) cost more than the
    rest of a remembered decision."""
    names = _policy_value_attributes(type(context))
    if names is None:
        return _frozen(context.to_policy_values())
    return tuple((name, tuple(value) if isinstance(value, list) else value)
                 for name in names for value in (getattr(context, name),))


class Enforcer(oslo_policy.Enforcer):
    """oslo.policy's Enforcer, looking for changed policy files at most every RELOAD_INTERVAL
    and remembering its decisions in between.

    A decision is a pure function of the rules, the rule name, the target and the caller's
    credentials; evaluating one costs oslo.policy a signature inspection per check (a tenth of
    a millisecond per rule), so each distinct question is answered once per rule load.
    """

    _last_load = -RELOAD_INTERVAL

    def load_rules(self, force_reload: bool = False) -> None:
        now = time.monotonic()
        if force_reload or not self.rules or now - self._last_load >= RELOAD_INTERVAL:
            super().load_rules(force_reload)
            self._last_load = now
            self._decisions: dict = {}

    def decide(self, rule: str, target: dict, context: Any) -> bool:
        """authorize() without raising, through the decision memo."""
        self.load_rules()
        try:
            key = (rule, _frozen(target), _credentials_key(context))
            hash(key)
        except TypeError:  # an unhashable value in a target: evaluate without the memo
            key = None
        decisions = self._decisions
        if key is not None and key in decisions:
            return decisions[key]
        try:
            allowed = bool(self.authorize(rule, target, context, do_raise=False))
        except oslo_policy.InvalidScope:
            # A token of the wrong scope (a system-scoped one) is refused like any other caller.
            allowed = False
        if key is not None:
            if len(decisions) >= DECISION_MEMO_SIZE:
                decisions.clear()
            decisions[key] = allowed
        return allowed


def init(conf: Any = CONF) -> oslo_policy.Enforcer:
    """The process's Enforcer, with the defaults in code registered."""
    global _ENFORCER
    if _ENFORCER is None:
        with _LOCK:
            if _ENFORCER is None:
                enforcer = Enforcer(conf)
                enforcer.register_defaults(policies.list_rules())
                _ENFORCER = enforcer
    return _ENFORCER


def reset() -> None:
    """Forget the Enforcer (tests, and a configuration reload)."""
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is not None:
            _ENFORCER.clear()
        _ENFORCER = None


def get_enforcer() -> oslo_policy.Enforcer:
    """Entry point of the oslopolicy-* tools (`oslo.policy.enforcer`).

    The tools call this without having parsed magnum-lite's configuration; a process that has
    (the API) keeps its own.
    """
    # oslo.config offers no public "already parsed?" test; _args is None until CONF() ran.
    if getattr(CONF, "_args", None) is None:
        CONF([], project="magnum-lite")
    return init()


def authorize(context: Any, rule: str, target: dict | None = None,
              do_raise: bool = True) -> bool:
    """Whether `context` may perform `rule` on `target` (a dict with the owner's project_id).

    Without a target the action is checked against the caller's own project. With do_raise,
    refusal raises PolicyNotAuthorized (403).
    """
    if target is None:
        target = {"project_id": context.project_id, "user_id": context.user_id}
    allowed = init().decide(rule, target, context)
    if not allowed and do_raise:
        raise exception.PolicyNotAuthorized(action=rule)
    return allowed


def check_is_admin(context: Any) -> bool:
    """Whether the caller is an administrator (rule context_is_admin)."""
    target = {"project_id": context.project_id, "user_id": context.user_id}
    return init().decide("context_is_admin", target, context)
