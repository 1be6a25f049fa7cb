"""The rule of tests/conftest.py: under CI=true a skipped service-backed test is a failure."""

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

SAMPLE_TESTS = '''
import pytest

@pytest.mark.service
def test_needs_postgresql():
    pytest.skip("postgresql is not reachable at 127.0.0.1:5432")

@pytest.mark.service
def test_has_its_service():
    pass

def test_skips_for_another_reason():
    pytest.skip("not on this platform")
'''


def run_sample(tmp_path: pathlib.Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SAMPLE_TESTS)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    # Our conftest as a plugin, our pytest configuration (the `service` marker).
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO), "-rA",
         str(tmp_path / "test_sample.py")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_missing_service_skips(tmp_path, ci):
    done = run_sample(tmp_path, ci)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 2 skipped" in done.stdout
    assert "postgresql is not reachable" in done.stdout


def test_under_ci_a_missing_service_fails_with_the_reason(tmp_path):
    done = run_sample(tmp_path, "true")
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 passed, 1 skipped" in done.stdout
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert "test_needs_postgresql" in failed[0]
    assert "postgresql is not reachable at 127.0.0.1:5432" in failed[0]
