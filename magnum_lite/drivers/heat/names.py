"""Names of a cluster's stacks and servers: unique, and traceable to the cluster.

The cluster stack is `<name>-<cluster uuid>`; each chunk of a worker nodegroup is
`<cluster stack>-ng-<nodegroup uuid>-<chunk>`. Heat's stack list can then be mapped back to
clusters and nodegroups by name alone. Server names are shorter (they become Kubernetes node
names, at most 63 characters).
"""

from __future__ import annotations

import re
from typing import Any

#: Every stack magnum-lite makes carries this tag, so one filtered listing finds them all.
STACK_TAG = "magnum-lite"

_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def slug(text: str | None, max_length: int) -> str:
    """Lower-case letters, digits and dashes, starting with a letter, at most `max_length`."""
    value = _NOT_NAME.sub("-", (text or "").lower()).strip("-")[:max_length].strip("-")
    if not value or not value[0].isalpha():
        value = ("c-" + value)[:max_length].strip("-")
    return value


def cluster_stack_name(cluster: Any) -> str:
    return f"{slug(cluster.name, 40)}-{cluster.uuid}"


def nodegroup_stack_prefix(cluster: Any, nodegroup: Any) -> str:
    return f"{cluster_stack_name(cluster)}-ng-{nodegroup.uuid}-"


def nodegroup_stack_name(cluster: Any, nodegroup: Any, chunk: int) -> str:
    return f"{nodegroup_stack_prefix(cluster, nodegroup)}{chunk}"


def chunk_of(stack_name: str, cluster: Any, nodegroup: Any) -> int | None:
    """The chunk number of a nodegroup stack, or None when the stack is not one of its."""
    prefix = nodegroup_stack_prefix(cluster, nodegroup)
    if not stack_name.startswith(prefix) or not stack_name[len(prefix):].isdigit():
        return None
    return int(stack_name[len(prefix):])


def cluster_prefix(cluster: Any) -> str:
    """The short prefix of the names of the cluster's own resources (network, masters)."""
    return f"{slug(cluster.name, 20)}-{cluster.uuid[:6]}"


def node_name_prefix(cluster: Any, nodegroup: Any, chunk: int | None = None) -> str:
    """Servers are named `<prefix>-<index>`; the prefix names cluster, nodegroup and chunk."""
    parts = [cluster_prefix(cluster), slug(nodegroup.name, 20)]
    if chunk is not None:
        parts.append(str(chunk))
    return "-".join(parts)


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_STACK_NAME = re.compile(
    rf"^[a-z][a-z0-9-]*-(?P<cluster>{_UUID})(?:-ng-(?P<nodegroup>{_UUID})-(?P<chunk>\d+))?$")


def cluster_uuid_of(stack_name: Any) -> str | None:
    """The uuid of the cluster a stack belongs to, read from its name alone (a cluster stack
    or a nodegroup chunk stack); None for any other name (another service's stack, a nested
    stack Heat makes for a resource group)."""
    if not isinstance(stack_name, str):
        return None
    found = _STACK_NAME.match(stack_name)
    return found.group("cluster") if found else None
