"""Docker swarm-mode on Fedora VMs: the `swarm_fedora_v2` driver plugin."""
