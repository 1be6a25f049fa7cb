"""openstack CLI commands for magnum-lite's own API (drivers, cluster events, upgrades by
driver version), beside python-magnumclient's `openstack coe` commands."""
