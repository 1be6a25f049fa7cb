"""The swarm scripts run with a stub `docker` that records its calls: the join step reports
manager 0's worker token where heat-config reads outputs, and a worker joins through the
managers with the token from join.env, never printing it."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess

from magnum_lite.drivers.swarm_fedora_v2 import userdata
from magnum_lite.drivers.swarm_fedora_v2.userdata import render_user_data
from tests.unit.drivers.k8s_ubuntu_v1.test_userdata import boot, files, scripts
from tests.unit.drivers.swarm_fedora_v2.test_userdata import TOKEN, make

# A docker CLI: `info` answers from $STUB/state, `swarm join` fails for the managers listed
# in $STUB/refuse and otherwise makes the node active; every call is logged.
STUB = r"""#!/bin/bash
echo "$*" >>"$STUB/calls"
case "$1 $2" in
    "info --format")
        case "$3" in
            *LocalNodeState*) cat "$STUB/state" 2>/dev/null || echo inactive ;;
            *ControlAvailable*) echo true ;;
        esac ;;
    "swarm join-token") echo "SWMTKN-1-from-manager-0" ;;
    "swarm join")
        for addr in $(cat "$STUB/refuse" 2>/dev/null); do
            [ "${*: -1}" = "$addr" ] && exit 1
        done
        echo active >"$STUB/state" ;;
esac
"""


def _stub(tmp_path: Path) -> Path:
    stub = tmp_path / "stub"
    (stub / "bin").mkdir(parents=True)
    (stub / "bin" / "docker").write_text(STUB)
    (stub / "bin" / "docker").chmod(0o755)
    (stub / "bin" / "sleep").write_text("#!/bin/sh\nexit 0\n")
    (stub / "bin" / "sleep").chmod(0o755)
    return stub


def _env(stub: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{stub}/bin:{os.environ['PATH']}", "STUB": str(stub), **extra}


def test_the_join_step_reports_the_worker_token(tmp_path):
    stub = _stub(tmp_path)
    outputs = tmp_path / "outputs"
    result = subprocess.run(["bash", str(userdata.BOOT_DIR / "join-tokens.sh")],
                            env=_env(stub, heat_outputs_path=str(outputs)),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert Path(f"{outputs}.worker_token").read_text().strip() == "SWMTKN-1-from-manager-0"
    assert "SWMTKN" not in result.stdout + result.stderr


def test_a_worker_joins_through_the_first_manager_that_answers(tmp_path):
    stub = _stub(tmp_path)
    (stub / "refuse").write_text("10.0.0.10:2377\n")
    data = boot(render_user_data(make("worker")), 1)
    etc = tmp_path / "etc"
    etc.mkdir()
    for path in ("/etc/magnum-lite/node.env", "/etc/magnum-lite/join.env"):
        (etc / Path(path).name).write_text(files(data)[path]["content"])
    script = tmp_path / "worker.sh"
    script.write_text(scripts(data)["20-swarm-worker.sh"])
    result = subprocess.run(["bash", str(script)], env=_env(stub, MAGNUM_LITE_ETC=str(etc)),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    joins = [c for c in (stub / "calls").read_text().splitlines() if c.startswith("swarm join")]
    assert joins == [f"swarm join --token {TOKEN} 10.0.0.10:2377",
                     f"swarm join --token {TOKEN} 10.0.0.11:2377"]
    assert TOKEN not in result.stdout + result.stderr
    assert "joined the swarm as a worker" in result.stdout
