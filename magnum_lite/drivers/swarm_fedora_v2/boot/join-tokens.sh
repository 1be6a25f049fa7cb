#!/bin/bash
# magnum-lite swarm_fedora_v2: the software deployment Heat runs on manager 0 once the masters
# are up. It waits for the swarm that manager 0's boot started and reports the worker join
# token as the deployment's `worker_token` output (heat-config's script hook reads
# "$heat_outputs_path.<name>"), which the worker stacks get as hidden user data.
# Never `set -x` and never print the token.
set -euo pipefail
umask 077
: "${heat_outputs_path:?heat-config gave no outputs path}"
timeout=${JOIN_TIMEOUT:-3600}
deadline=$(($(date +%s) + timeout))
until [ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null || true)" = true ]
do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "magnum-lite: the swarm did not start within $timeout seconds" >&2
        exit 1
    fi
    sleep 5
done
docker swarm join-token --quiet worker >"$heat_outputs_path.worker_token"
echo "magnum-lite: worker token reported"
