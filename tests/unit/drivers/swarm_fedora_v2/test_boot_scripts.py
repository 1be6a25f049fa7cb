"""The swarm scripts run with a stub `docker` that records its calls: the join step reports
manager 0's worker token where heat-config reads outputs, and a worker joins through the
managers with the token from join.env, never printing it."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess

from magnum_lite.drivers.swarm_fedora_v2 import userdata
from magnum_lite.drivers.swarm_fedora_v2.userdata import render_user_data
from tests.unit.drivers.boot_helpers import install_stubs, run_node_script
from tests.unit.drivers.swarm_fedora_v2.test_userdata import TOKEN, make

# A docker CLI: `info` answers from $STUBS/state, `swarm join` fails for the managers listed
# in $STUBS/refuse and otherwise makes the node active; every call is logged.
STUB = r"""#!/bin/bash
echo "$*" >>"$STUBS/calls"
case "$1 $2" in
    "info --format")
        case "$3" in
            *LocalNodeState*) cat "$STUBS/state" 2>/dev/null || echo inactive ;;
            *ControlAvailable*) echo true ;;
        esac ;;
    "swarm join-token") echo "SWMTKN-1-from-manager-0" ;;
    "swarm join")
        for addr in $(cat "$STUBS/refuse" 2>/dev/null); do
            [ "${*: -1}" = "$addr" ] && exit 1
        done
        echo active >"$STUBS/state" ;;
esac
"""


def _stubs(tmp_path: Path) -> Path:
    stubs = tmp_path / "stubs"
    install_stubs(stubs, STUB, ("docker",))
    install_stubs(stubs, "#!/bin/sh\nexit 0\n", ("sleep",))
    return stubs


def test_the_join_step_reports_the_worker_token(tmp_path):
    stubs = _stubs(tmp_path)
    outputs = tmp_path / "outputs"
    result = subprocess.run(["bash", str(userdata.BOOT_DIR / "join-tokens.sh")],
                            env={"PATH": f"{stubs}:{os.environ['PATH']}", "STUBS": str(stubs),
                                 "heat_outputs_path": str(outputs)},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert Path(f"{outputs}.worker_token").read_text().strip() == "SWMTKN-1-from-manager-0"
    assert "SWMTKN" not in result.stdout + result.stderr


def test_a_worker_joins_through_the_first_manager_that_answers(tmp_path):
    stubs = _stubs(tmp_path)
    (stubs / "refuse").write_text("10.0.0.10:2377\n")
    result, calls, _ = run_node_script(tmp_path, render_user_data(make("worker")), 1,
                                       stub=STUB, commands=("docker",))
    assert result.returncode == 0, result.stderr
    joins = [c for c in calls if c.startswith("swarm join")]
    assert joins == [f"swarm join --token {TOKEN} 10.0.0.10:2377",
                     f"swarm join --token {TOKEN} 10.0.0.11:2377"]
    assert TOKEN not in result.stdout + result.stderr
    assert "joined the swarm as a worker" in result.stdout
