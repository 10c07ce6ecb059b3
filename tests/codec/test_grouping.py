import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_sincs.codec.grouping import GroupPlan, snake_order

shapes = st.tuples(
    st.integers(1, 7), st.integers(1, 3), st.integers(1, 6), st.integers(2, 20), st.integers(2, 20)
)


@st.composite
def plans(draw):
    shape = draw(shapes)
    block = (
        draw(st.integers(1, shape[2])),
        draw(st.integers(1, shape[3])),
        draw(st.integers(1, shape[4])),
    )
    return GroupPlan(shape, draw(st.integers(1, 8)), block, draw(st.integers(1, 5)))


@settings(max_examples=150, deadline=None)
@given(plans())
def test_split_then_merge_is_identity(plan):
    data = np.random.default_rng(0).integers(0, 1000, plan.shape)
    merged = np.full(plan.shape, -1)
    seen = np.zeros(plan.shape, dtype=int)
    for group in plan:
        part = plan.extract(data, group)
        assert part.shape == plan.group_shape(group)
        plan.insert(merged, group, part)
        marker = np.zeros(plan.group_shape(group), dtype=int) + 1
        plan.insert(seen, group, plan.extract(seen, group) + marker)
    np.testing.assert_array_equal(merged, data)
    assert np.all(seen == 1), "every voxel belongs to exactly one group"


@settings(max_examples=100, deadline=None)
@given(plans(), st.data())
def test_groups_meeting_is_exactly_the_groups_owning_the_region(plan, data):
    region = []
    for size in plan.shape:
        start = data.draw(st.integers(0, size - 1))
        stop = data.draw(st.integers(start + 1, size))
        region.append(slice(start, stop))
    owner = np.full(plan.shape, -1)
    for group in plan:
        plan.insert(owner, group, np.full(plan.group_shape(group), group.index))
    expected = sorted(set(owner[tuple(region)].reshape(-1).tolist()))
    assert [g.index for g in plan.groups_meeting(tuple(region))] == expected


def test_interlaced_time_groups_hold_every_nth_frame():
    plan = GroupPlan((10, 1, 1, 4, 4), 3, (1, 4, 4), 8)
    assert [list(plan.frames(g)) for g in range(3)] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert plan.frames_per_group == 4
    assert plan.coordinate_axes == ("t", "y", "x")
    data = np.arange(10 * 16).reshape(10, 1, 1, 4, 4)
    np.testing.assert_array_equal(plan.extract(data, plan.group(1))[:, 0], data[1::3, 0, 0])


def test_neighbouring_groups_are_neighbours_in_the_data():
    for grid in [(1, 3, 4), (2, 3, 3), (3, 2, 2)]:
        cells = snake_order(grid)
        assert sorted(cells) == sorted(itertools.product(*(range(g) for g in grid)))
        for a, b in itertools.pairwise(cells):
            assert sum(abs(i - j) for i, j in zip(a, b)) == 1


def test_phases_of_a_block_come_together_and_chains_stay_in_a_channel():
    plan = GroupPlan((8, 2, 1, 8, 8), 4, (1, 4, 8), 3)
    first = [plan.group(i) for i in range(4)]
    assert {g.block for g in first} == {(0, 0, 0)}
    assert [g.phase for g in first] == [0, 1, 2, 3]
    chains = plan.chains()
    assert [list(c) for c in chains] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7],
        [8, 9, 10],
        [11, 12, 13],
        [14, 15],
    ]
    for index in range(len(plan)):
        assert index in chains[plan.chain_of(index)]
        assert {plan.group(i).channel for i in chains[plan.chain_of(index)]} == {
            plan.group(index).channel
        }
