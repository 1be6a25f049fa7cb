"""Versioned objects: the only way the API and the conductor read and write the database."""

from magnum_lite.objects.cluster import Cluster
from magnum_lite.objects.cluster_event import ClusterEvent
from magnum_lite.objects.cluster_operation import ClusterOperation
from magnum_lite.objects.cluster_template import ClusterTemplate
from magnum_lite.objects.driver import Driver
from magnum_lite.objects.magnum_service import MagnumService
from magnum_lite.objects.nodegroup import NodeGroup
from magnum_lite.objects.quota import Quota
from magnum_lite.objects.x509keypair import X509KeyPair

__all__ = ["Cluster", "ClusterEvent", "ClusterOperation", "ClusterTemplate", "Driver",
           "MagnumService", "NodeGroup", "Quota", "X509KeyPair"]
