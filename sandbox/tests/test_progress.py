"""The sandbox start says what it is still doing during a long step, and stops saying it after."""

import time

from magnum_lite_sandbox import cli


def test_a_long_step_is_reported_until_it_ends(monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(cli, "say", said.append)
    with cli._ticking(lambda: "still creating the sandbox venv", every=0.01):
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            time.sleep(0.01)
    count = len(said)
    time.sleep(0.05)
    assert count >= 1
    assert len(said) == count  # nothing after the step ended
    assert said[0].startswith("still creating the sandbox venv (")
    assert said[0].endswith(" s so far)")


def test_the_venv_progress_counts_the_packages_installed_so_far(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    assert cli._packages_in(tmp_path) == 0
    for name in ("keystone-30.0.0.dist-info", "heat-27.0.0.dist-info", "keystone"):
        (site / name).mkdir()
    assert cli._packages_in(tmp_path) == 2
