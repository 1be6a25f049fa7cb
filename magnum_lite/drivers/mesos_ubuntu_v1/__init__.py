"""Mesos with ZooKeeper and Marathon on Ubuntu VMs: the `mesos_ubuntu_v1` driver plugin."""
