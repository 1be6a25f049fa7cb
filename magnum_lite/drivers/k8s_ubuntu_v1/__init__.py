"""Kubernetes on Ubuntu virtual machines, bootstrapped by kubeadm from cloud-init user data."""
