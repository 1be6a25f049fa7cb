"""How many nodes each stack of a worker nodegroup holds.

Heat counts every resource of a stack's whole tree against `max_resources_per_stack`, so a
large nodegroup is split into chunk stacks. A resize changes only the chunks whose count
changes; new chunks are added at the end, and emptied chunks stay (with no nodes) so that
chunk numbers never move.
"""

from __future__ import annotations

# Resources a chunk stack spends besides its nodes (the ResourceGroup itself, the software
# config of credential rotations, headroom).
CHUNK_OVERHEAD = 3
# Resources one node spends in the tree at most: its member resource in the group's nested
# stack, then in its own nested stack (fragments/node.yaml) the port, server, credentials
# deployment, floating IP slot (+ the floating IP of fragments/floating_ip.yaml), volume slot
# (+ volume and attachment of fragments/volume.yaml) and load balancer membership slot.
RESOURCES_PER_NODE = 10


def nodes_per_stack(max_resources_per_stack: int) -> int:
    """The most nodes one chunk stack may hold under Heat's limit."""
    return max(1, (max_resources_per_stack - CHUNK_OVERHEAD) // RESOURCES_PER_NODE)


def plan(node_count: int, per_stack: int) -> list[int]:
    """Chunk sizes for a new nodegroup: full chunks, then the rest; one empty chunk for 0."""
    if node_count <= 0:
        return [0]
    full, rest = divmod(node_count, per_stack)
    return [per_stack] * full + ([rest] if rest else [])


def resize(current: list[int], node_count: int, per_stack: int,
           removed: dict[int, int] | None = None) -> list[int]:
    """New chunk sizes after a resize to `node_count`.

    `removed` maps chunk -> how many named nodes leave it (nodes_to_remove); they go first.
    The rest of a shrink comes off the last chunks; growth fills chunks from the first with
    room, then adds new chunks.
    """
    sizes = list(current) or [0]
    for chunk, count in (removed or {}).items():
        sizes[chunk] -= count
    excess = sum(sizes) - node_count
    for chunk in reversed(range(len(sizes))):
        if excess <= 0:
            break
        taken = min(excess, sizes[chunk])
        sizes[chunk] -= taken
        excess -= taken
    missing = node_count - sum(sizes)
    for chunk in range(len(sizes)):
        if missing <= 0:
            break
        added = min(missing, per_stack - sizes[chunk])
        if added > 0:
            sizes[chunk] += added
            missing -= added
    while missing > 0:
        added = min(missing, per_stack)
        sizes.append(added)
        missing -= added
    return sizes
