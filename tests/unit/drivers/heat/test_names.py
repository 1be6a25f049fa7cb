"""Stack and server names: unique per cluster, traceable back, within Heat's and DNS's rules."""

import types
import uuid

from magnum_lite.drivers.heat import names


def _cluster(name="Demo Cluster", cluster_uuid=None):
    return types.SimpleNamespace(name=name, uuid=cluster_uuid or str(uuid.uuid4()))


def _group(name="default-worker"):
    return types.SimpleNamespace(name=name, uuid=str(uuid.uuid4()))


def test_slug():
    assert names.slug("My_Cluster.1", 40) == "my-cluster-1"
    assert names.slug("--x--", 40) == "x"
    assert names.slug("9lives", 40) == "c-9lives"
    assert names.slug("", 40) == "c"
    assert names.slug(None, 40) == "c"
    assert names.slug("a" * 80, 20) == "a" * 20
    assert names.slug("ab-" + "c" * 30, 3) == "ab"  # no trailing dash after the cut


def test_cluster_stack_name_holds_the_uuid():
    cluster = _cluster()
    assert names.cluster_stack_name(cluster) == f"demo-cluster-{cluster.uuid}"


def test_chunk_stack_names_map_back_to_their_nodegroup():
    cluster, group, other = _cluster(), _group(), _group()
    name = names.nodegroup_stack_name(cluster, group, 3)
    assert name.startswith(names.cluster_stack_name(cluster))
    assert names.chunk_of(name, cluster, group) == 3
    assert names.chunk_of(name, cluster, other) is None
    assert names.chunk_of(names.cluster_stack_name(cluster), cluster, group) is None
    assert names.chunk_of(name + "x", cluster, group) is None
    assert names.chunk_of(names.nodegroup_stack_name(cluster, group, 12), cluster, group) == 12


def test_server_names_are_short_dns_labels():
    cluster = _cluster(name="A" * 100)
    group = _group(name="Workers With A Very Long Name Indeed")
    prefix = names.node_name_prefix(cluster, group, 999)
    # "<prefix>-<index>" must stay a Kubernetes node name (a DNS label, <= 63).
    assert len(f"{prefix}-99999") <= 63
    assert prefix == prefix.lower()
    assert all(c.isalnum() or c == "-" for c in prefix)
    assert cluster.uuid[:6] in prefix
    assert names.node_name_prefix(cluster, group) == prefix.rsplit("-", 1)[0]


def test_two_clusters_of_one_name_get_distinct_names():
    a, b = _cluster("same"), _cluster("same")
    assert names.cluster_stack_name(a) != names.cluster_stack_name(b)
