#!/usr/bin/env bash
# Create .venv (if missing) and install magnum-lite editable with its database drivers, the
# sandbox cloud (its own distribution, sandbox/) and the openstack CLI plugin (osc/) editable,
# and the test requirements, pinned by
# upper-constraints.txt. Skips the install when nothing it depends on
# changed since the last one (a stamp file in .venv records what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv

if [ ! -x "$VENV/bin/python" ]; then
    echo "install-venv: creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.magnum-lite-installed"
wanted=$(cat setup.cfg pyproject.toml sandbox/setup.cfg sandbox/pyproject.toml \
    osc/setup.cfg osc/pyproject.toml test-requirements.txt upper-constraints.txt | sha256sum)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] \
        && "$VENV/bin/python" -c "import magnum_lite, magnum_lite_sandbox, magnum_lite_osc, pytest, psycopg2, pymysql" 2>/dev/null; then
    echo "install-venv: $VENV is up to date"
    exit 0
fi

echo "install-venv: installing into $VENV (a few minutes the first time; progress below)"
t0=$SECONDS
tools/pip-install.sh "$VENV" "$VENV/install-venv.log" -c upper-constraints.txt \
    -e '.[postgresql,mysql]' -e ./sandbox -e ./osc -r test-requirements.txt
echo "$wanted" > "$stamp"
echo "install-venv: installed in $((SECONDS - t0)) s"
