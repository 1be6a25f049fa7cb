"""The sandbox cloud: real Keystone and real Heat from PyPI with simulated compute.

Development and test tooling (issue 3), a distribution of its own (sandbox/ in the
repository: it depends on magnum-lite, which never ships or imports it; issue 13, item 7):
`magnum-lite-sandbox start` brings up Keystone, Heat (with a simulation of Nova, Neutron,
Cinder and Octavia resources), a guest agent, a stand-in for the cloud APIs magnum-lite calls,
and magnum-lite itself behind keystonemiddleware.

Shared contract of the pieces (all under the sandbox state directory, default
`~/.local/share/magnum-lite/sandbox`, overridden by MAGNUM_LITE_SANDBOX_DIR):

- `sandbox.json`, written by the start command before anything else runs:
  {"state_dir", "keystone_url" (http://127.0.0.1:5000/v3), "region" ("RegionOne"),
   "heat_url" (http://127.0.0.1:8004/v1/%(tenant_id)s), "magnum_lite_url"
   (http://127.0.0.1:9511/v1), "cloud_api": {"image": "http://127.0.0.1:9292",
   "compute": "http://127.0.0.1:8774/v2.1", "network": "http://127.0.0.1:9696",
   "load-balancer": "http://127.0.0.1:9876"},
   "users": {name: {"username", "password", "project_name", "user_domain_name",
                    "project_domain_name"}} for "admin", "demo", "alt_demo", and the service
   users "heat", "magnum-lite", "sandbox-cloud"}
- `python -m magnum_lite_sandbox.simulation prepare` / `simulation.prepare(state_dir)` writes
  Heat's global environment and returns {"plugin_dirs": [...], "environment_dir": ...} for
  heat.conf.
- `python -m magnum_lite_sandbox.agent --state-dir DIR`: the guest agent process; it also
  serves each cluster's COE API (`cluster_apis`: Kubernetes `kube_api`, Docker `docker_api`,
  Mesos `mesos_api`) on the cluster's simulated floating IPs, which are loopback addresses
  (127.a.b.c), so kubeconfigs and Docker environments from `cluster config` work here.
- `python -m magnum_lite_sandbox.cloud_api --state-dir DIR`: the cloud API stand-in process.
- `timeline/<cluster uuid>.jsonl`, appended by the agent: every change of a simulated node's
  availability, for upgrade tests (`timeline.read(cluster_uuid, state_dir=None)`).
- `faults.json`, written by `magnum-lite-sandbox fault never-ready|clear|stop|start|
  unreachable|reachable ...` and Nova's os-stop/os-start, read by the agent each sweep and by
  the Nova stand-in (`faults`).
- `servers.json`, written by the agent: every cluster's simulated servers, for the Nova
  stand-in's server list and `fault stop NODE` (`servers`).
"""
