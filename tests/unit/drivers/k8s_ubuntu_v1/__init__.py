"""Tests of the k8s_ubuntu_v1 driver."""
