"""kubeadm's version rule for a rolling upgrade: at most one minor version up, never down."""

import pytest

from magnum_lite.common import exception
from magnum_lite.drivers.k8s_ubuntu_v1.driver import K8sUbuntuV1


@pytest.mark.parametrize(("current", "target"), [
    ("v1.30.1", "v1.30.1"), ("v1.30.1", "v1.30.4"), ("v1.30.4", "v1.30.1"),
    ("v1.30.1", "v1.31.0"), ("1.30.1", "v1.31.9"), ("v1.30.1-rc.1", "v1.31.0"),
    (None, "v1.34.0"), ("unknown", "v1.34.0"), ("v1.30.1", None)])
def test_allowed_steps(current, target):
    K8sUbuntuV1.check_upgrade(current, target)


@pytest.mark.parametrize(("current", "target", "says"), [
    ("v1.30.1", "v1.32.0", "more than one minor version ahead"),
    ("v1.29.3", "v1.31.0", "to v1.30 first"),
    ("v1.30.1", "v1.29.9", "older"),
    ("v1.30.1", "v0.31.0", "older"),
    ("v1.30.1", "v2.0.0", "more than one minor version ahead"),
    ("v1.30.1", "latest", "not a version"),
    (None, "1.x", "not a version")])
def test_refused_steps_name_the_template(current, target, says):
    with pytest.raises(exception.InvalidParameterValue) as caught:
        K8sUbuntuV1.check_upgrade(current, target)
    assert str(caught.value).startswith("cluster_template:")
    assert says in str(caught.value)


def test_the_version_a_cluster_runs_is_its_kube_tag():
    from types import SimpleNamespace

    plugin = K8sUbuntuV1(None)
    template = SimpleNamespace(network_driver="flannel", labels={"kube_tag": "v1.30.1"})
    cluster = SimpleNamespace(labels={"kube_tag": "v1.31.2"})
    assert plugin.coe_version(cluster, template) == "v1.31.2"
