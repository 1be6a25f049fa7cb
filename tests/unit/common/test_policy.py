"""Policy defaults in code: reader, member and admin personas, scoped to projects."""

import os

import pytest

from magnum_lite.common import context, exception, policies, policy


@pytest.fixture(autouse=True)
def fresh_enforcer(config):
    policy.init()  # registers [oslo_policy] so that tests may override its options
    policy.reset()
    yield
    policy.reset()


def _context(roles, project="p1", **kwargs):
    return context.RequestContext(project_id=project, user_id="u1", roles=roles, **kwargs)


def test_every_rule_is_documented_once():
    rules = policies.list_rules()
    names = [rule.name for rule in rules]
    assert len(names) == len(set(names))
    documented = [rule for rule in rules if hasattr(rule, "operations")]
    assert {r.name for r in documented} >= {
        "cluster:create", "cluster:get", "cluster:get_all", "cluster:detail", "cluster:update",
        "cluster:delete", "clustertemplate:create", "clustertemplate:publish",
        "quota:create", "quota:get_all", "stats:get_all", "magnum-service:get_all"}
    for rule in documented:
        assert rule.description and rule.operations
        assert rule.scope_types == ["project"]


def test_get_enforcer_has_the_defaults_registered():
    enforcer = policy.get_enforcer()
    assert "cluster:create" in enforcer.registered_rules
    assert enforcer is policy.get_enforcer()


@pytest.mark.parametrize("roles, read, write, admin", [
    (["reader"], True, False, False),
    (["member", "reader"], True, True, False),
    (["admin", "member", "reader"], True, True, True),
    ([], False, False, False),
])
def test_personas(roles, read, write, admin):
    ctx = _context(roles)
    assert policy.authorize(ctx, "cluster:get_all", do_raise=False) is read
    assert policy.authorize(ctx, "cluster:create", do_raise=False) is write
    assert policy.authorize(ctx, "magnum-service:get_all", do_raise=False) is admin
    assert policy.authorize(ctx, "clustertemplate:publish", do_raise=False) is admin
    assert policy.authorize(ctx, "quota:create", do_raise=False) is admin
    assert policy.check_is_admin(ctx) is admin


def test_members_act_on_their_own_projects_resources_only():
    ctx = _context(["member", "reader"])
    assert policy.authorize(ctx, "cluster:delete", {"project_id": "p1"}, do_raise=False)
    assert not policy.authorize(ctx, "cluster:delete", {"project_id": "p2"}, do_raise=False)


def test_refusal_is_a_403_naming_the_rule():
    with pytest.raises(exception.PolicyNotAuthorized) as caught:
        policy.authorize(_context(["reader"]), "cluster:create")
    assert caught.value.code == 403
    assert "cluster:create" in str(caught.value)


def test_system_scoped_tokens_are_refused_like_any_other_caller():
    ctx = context.RequestContext(user_id="u1", roles=["admin", "member", "reader"],
                                 system_scope="all")
    with pytest.raises(exception.PolicyNotAuthorized):
        policy.authorize(ctx, "cluster:create")
    assert policy.authorize(ctx, "cluster:create", do_raise=False) is False


def test_an_operator_policy_file_overrides_the_defaults(config, tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"cluster:get_all": "role:auditor"\n')
    config.set_override("policy_file", str(policy_file), group="oslo_policy")
    auditor = _context(["auditor"])
    assert policy.authorize(auditor, "cluster:get_all", do_raise=False)
    assert not policy.authorize(_context(["reader"]), "cluster:get_all", do_raise=False)


def test_the_policy_file_is_looked_at_again_after_the_interval(config, tmp_path, monkeypatch):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"cluster:get_all": "role:auditor"\n')
    config.set_override("policy_file", str(policy_file), group="oslo_policy")
    clock = [1000.0]
    monkeypatch.setattr(policy.time, "monotonic", lambda: clock[0])
    auditor = _context(["auditor"])
    assert policy.authorize(auditor, "cluster:get_all", do_raise=False)
    policy_file.write_text('"cluster:get_all": "role:nobody"\n')
    later = policy_file.stat().st_mtime + 10
    os.utime(policy_file, (later, later))
    assert policy.authorize(auditor, "cluster:get_all", do_raise=False)  # not looked yet
    clock[0] += policy.RELOAD_INTERVAL
    assert not policy.authorize(auditor, "cluster:get_all", do_raise=False)


def test_remembered_decisions_match_oslo_policy_for_every_rule_and_persona():
    enforcer = policy.init()
    callers = [_context(roles) for roles in (["reader"], ["member"], ["admin"], ["other"])]
    callers.append(_context(["member"], project="p2"))
    for rule in (r.name for r in policies.list_rules()):
        for caller in callers:
            target = {"project_id": "p1", "user_id": "u1"}
            direct = bool(enforcer.authorize(rule, target, caller, do_raise=False))
            for _ in range(2):  # the second answer comes from the memo
                assert enforcer.decide(rule, target, caller) is direct, (rule, caller.roles)


def test_a_repeated_question_is_evaluated_once(monkeypatch):
    enforcer = policy.init()
    evaluations = []
    real_authorize = type(enforcer).authorize

    def counting_authorize(self, *args, **kwargs):
        evaluations.append(args[0])
        return real_authorize(self, *args, **kwargs)

    monkeypatch.setattr(type(enforcer), "authorize", counting_authorize)
    member = _context(["member"])
    for _ in range(5):
        assert policy.authorize(member, "cluster:create")
    assert evaluations == ["cluster:create"]
    # Another caller is another question.
    assert not policy.authorize(_context(["reader"]), "cluster:create", do_raise=False)
    assert evaluations == ["cluster:create", "cluster:create"]


def test_the_memo_key_is_every_policy_value_of_the_caller():
    """The decision memo keys on the caller's policy values read from its attributes: the
    same key as the full to_policy_values() would give, and a change of any one value (on
    the same context object, as a hook changes roles or is_admin) is another question."""
    caller = _context(["member", "reader"], service_roles=["service"])
    with pytest.warns(DeprecationWarning):  # is_admin is a deprecated policy value
        assert policy._credentials_key(caller) == policy._frozen(caller.to_policy_values())
    names = policy._policy_value_attributes(context.RequestContext)
    assert names is not None and set(names) == set(caller.to_policy_values())
    seen = {policy._credentials_key(caller)}
    for name in names:
        before = getattr(caller, name)
        setattr(caller, name, ["changed"] if isinstance(before, list) else "changed")
        key = policy._credentials_key(caller)
        assert key not in seen, name
        seen.add(key)
        setattr(caller, name, before)
    assert policy._credentials_key(caller) in seen


def test_a_remembered_decision_follows_a_change_of_the_callers_roles():
    caller = _context(["reader"])
    assert not policy.authorize(caller, "cluster:create", do_raise=False)
    caller.roles = ["member", "reader"]
    assert policy.authorize(caller, "cluster:create", do_raise=False)
    caller.roles = ["reader"]
    assert not policy.authorize(caller, "cluster:create", do_raise=False)


class _DerivedValues(context.RequestContext):
    """A context whose policy value is not the attribute of its name."""

    def to_policy_values(self):
        values = dict(super().to_policy_values().items())
        values["project_id"] = f"derived-{self.user_id}"
        return values


def test_a_context_whose_policy_values_are_not_its_attributes_keys_on_the_full_values():
    assert policy._policy_value_attributes(_DerivedValues) is None
    caller = _DerivedValues(project_id="p1", user_id="u1", roles=["member"])
    assert policy._credentials_key(caller) == policy._frozen(caller.to_policy_values())
    # Its own project (as its policy values say) is "derived-u1", not p1.
    assert policy.authorize(caller, "cluster:delete", {"project_id": "derived-u1"},
                            do_raise=False)
    assert not policy.authorize(caller, "cluster:delete", {"project_id": "p1"},
                                do_raise=False)
