"""The pieces an upgrade test stands on, without a served API: node boots (rebuilt, held by
a fault, removed), the workload's placement, the timeline file and the fault knob with its
CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

from magnum_lite_sandbox import boots, cli, faults, timeline, workload


def guest(name, digest="d1", version="v1", server="s1"):
    return SimpleNamespace(name=name, server_id=server, version=version, boot_digest=digest)


def test_a_new_node_is_up_and_a_rebuilt_one_boots_into_its_new_version():
    b = boots.Boots(seconds=lambda: 2.0)
    assert [(c.event, c.reason, c.version) for c in b.update([guest("n")], 100.0)] == [
        ("up", "registered", "v1")]
    assert b.update([guest("n")], 101.0) == []  # nothing changed
    [down] = b.update([guest("n", digest="d2", version="v2")], 110.0)
    assert (down.event, down.time, down.version) == ("down", 110.0, "v1")
    assert b.get("n").version == "v1" and not b.get("n").ready
    assert b.advance(111.9) == []
    [up] = b.advance(115.0)
    assert (up.event, up.time, up.version) == ("up", 112.0, "v2")
    assert b.get("n").generation == 1 and b.get("n").ready
    # A new server under the same name (a replacement) is a rebuild too.
    assert [c.event for c in b.update([guest("n", "d2", "v2", server="s2")], 120.0)] == [
        "down"]
    # Unknown user data (a server that could not be read) is not a change.
    assert b.update([guest("n", digest="", version=None, server="s2")], 121.0) == []
    assert [c.event for c in b.update([], 130.0)] == ["removed"]


def test_a_held_boot_stays_down_until_released_then_boots():
    b = boots.Boots(seconds=lambda: 2.0)
    b.update([guest("n")], 0.0)
    b.update([guest("n", digest="d2", version="v2")], 10.0)
    [held] = b.advance(20.0, held={"n"})
    assert (held.event, held.reason, held.time) == ("down", "never-ready", 12.0)
    assert b.advance(30.0, held={"n"}) == [] and not b.get("n").ready
    assert b.advance(31.0) == []  # released at 30: it boots for two seconds
    [up] = b.advance(32.0)
    assert (up.event, up.version) == ("up", "v2")


def test_boot_seconds_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(boots.BOOT_SECONDS_ENV, "0.5")
    assert boots.boot_seconds() == 0.5
    monkeypatch.setenv(boots.BOOT_SECONDS_ENV, "soon")
    assert boots.boot_seconds() == boots.DEFAULT_BOOT_SECONDS


def test_replicas_spread_start_late_and_move_off_nodes_gone():
    w = workload.Workload(3, lambda i: f"r{i}", start_seconds=1.0)
    started = w.start(0.0, ["a", "b"])
    assert [(e.kind, e.node) for e in started] == [("started", "a"), ("started", "b"),
                                                    ("started", "a")]
    events = w.sync(5.0, alive={"b", "c"}, eligible=["b", "c"])
    assert [(e.kind, e.node) for e in events] == [("lost", "a"), ("lost", "a"),
                                                  ("scheduled", "c"), ("scheduled", "b")]
    assert len(w.ready(5.5)) == 1
    assert [(e.kind, e.time) for e in w.sync(6.0, {"b", "c"}, ["b", "c"])] == [
        ("started", 6.0), ("started", 6.0)]
    replacement = w.remove(w.on("c")[0], 7.0, "evicted")
    assert replacement.node is None
    assert w.sync(7.0, {"b", "c"}, []) == []  # nowhere to go: it waits
    assert [e.node for e in w.sync(8.0, {"b", "c"}, ["c"])] == ["c"]


def test_the_timeline_is_appended_and_read_in_time_order(tmp_path):
    line = timeline.Timeline("u1", tmp_path)
    line.append({"time": 2.0, "node": "n", "event": "up"})
    line.append({"time": 1.0, "node": "n", "event": "down"})
    with open(timeline.path("u1", tmp_path), "a") as f:
        f.write('{"time": 3.0, "node": "n", "ev')  # a line being written
    assert [e["event"] for e in timeline.read("u1", tmp_path)] == ["down", "up"]
    assert timeline.read("u2", tmp_path) == []


def test_faults_are_read_only_when_the_file_changes(tmp_path, capsys):
    watch = faults.Faults(tmp_path)
    assert watch.never_ready() == frozenset()
    assert cli.main(["--state-dir", str(tmp_path), "fault", "never-ready", "n1"]) == 0
    assert cli.main(["--state-dir", str(tmp_path), "fault", "never-ready", "n2"]) == 0
    assert watch.never_ready() == {"n1", "n2"}
    assert json.loads((tmp_path / faults.FAULTS_FILE).read_text()) == {
        "never_ready": ["n1", "n2"]}
    assert cli.main(["--state-dir", str(tmp_path), "fault", "clear", "n1"]) == 0
    assert watch.never_ready() == {"n2"}
    assert cli.main(["--state-dir", str(tmp_path), "fault", "clear"]) == 0
    assert watch.never_ready() == frozenset()
    assert "never-ready: none" in capsys.readouterr().out
    assert cli.main(["--state-dir", str(tmp_path), "fault", "sideways"]) == 2
