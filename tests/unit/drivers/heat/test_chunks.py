"""The chunk maths of large worker nodegroups: plans, resizes, removals."""

import random

import pytest

from magnum_lite.drivers.heat import chunks


def test_nodes_per_stack_keeps_the_tree_under_the_limit():
    per_stack = chunks.nodes_per_stack(1000)
    assert per_stack == (1000 - chunks.CHUNK_OVERHEAD) // chunks.RESOURCES_PER_NODE
    # The chunk stack's group resource plus every node's resources fit.
    assert 1 + per_stack * chunks.RESOURCES_PER_NODE <= 1000
    assert chunks.nodes_per_stack(5) == 1  # never zero


@pytest.mark.parametrize(("count", "per_stack", "expected"), [
    (0, 10, [0]),
    (1, 10, [1]),
    (10, 10, [10]),
    (11, 10, [10, 1]),
    (25, 10, [10, 10, 5]),
    (1000, 110, [110] * 9 + [10]),
])
def test_plan(count, per_stack, expected):
    assert chunks.plan(count, per_stack) == expected


def test_growth_fills_chunks_with_room_first_then_adds_chunks():
    assert chunks.resize([10, 4], 16, 10) == [10, 6]
    assert chunks.resize([10, 4], 27, 10) == [10, 10, 7]
    assert chunks.resize([3, 10], 15, 10) == [5, 10]  # a partly emptied chunk refills first
    assert chunks.resize([0], 4, 10) == [4]
    assert chunks.resize([], 4, 10) == [4]


def test_shrink_takes_from_the_last_chunks_and_keeps_emptied_chunks():
    assert chunks.resize([10, 10, 5], 12, 10) == [10, 2, 0]
    assert chunks.resize([10, 10, 5], 0, 10) == [0, 0, 0]
    assert chunks.resize([10, 4], 14, 10) == [10, 4]


def test_named_removals_come_out_of_their_chunk_first():
    # Two named nodes leave chunk 0; the shrink by 2 is then done.
    assert chunks.resize([10, 10], 18, 10, {0: 2}) == [8, 10]
    # One named node leaves chunk 1 and the rest of the shrink comes off the end.
    assert chunks.resize([10, 10], 15, 10, {1: 1}) == [10, 5]
    # A replace: a named node goes and the count stays, so the chunk refills.
    assert chunks.resize([10, 10], 20, 10, {0: 1}) == [10, 10]


def test_property_counts_sum_to_target_and_never_exceed_the_limit():
    rng = random.Random(20261121)
    for _ in range(3000):
        per_stack = rng.randint(1, 40)
        current = chunks.plan(rng.randint(0, 200), per_stack)
        # Random earlier history: some chunks partly emptied.
        current = [rng.randint(0, size) for size in current]
        target = rng.randint(0, 250)
        removable = max(0, sum(current) - target)
        removed: dict[int, int] = {}
        for chunk, size in enumerate(current):
            take = rng.randint(0, min(size, removable))
            if take:
                removed[chunk] = take
                removable -= take
        new = chunks.resize(current, target, per_stack, removed)
        assert sum(new) == target, (current, target, per_stack, removed, new)
        assert all(0 <= size <= per_stack for size in new), (current, target, new)
        assert len(new) >= len(current)  # chunk numbers never move
        # Named nodes are gone from their chunk unless growth refilled it.
        assert all(new[c] <= per_stack for c in removed)
        if target >= sum(current) - sum(removed.values()):
            # Growth (or a replace) never removes a node that was not named.
            assert all(new[c] >= current[c] - removed.get(c, 0) for c in range(len(current)))


def test_property_plan_sums_to_the_count_with_full_chunks_first():
    for per_stack in (1, 7, 110):
        for count in range(0, 500, 7):
            sizes = chunks.plan(count, per_stack)
            assert sum(sizes) == count
            assert all(0 <= s <= per_stack for s in sizes)
            assert all(s == per_stack for s in sizes[:-1])
