"""usersync.work.collector: the cyclic collector is off during a unit of work and on after it,
whatever happens; a pause inside a pause leaves the outer one in charge."""

from __future__ import annotations

import gc

import pytest

from usersync.work.collector import collector_paused


def test_the_collector_is_off_during_the_work_and_on_after_it():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_is_on_again_after_a_failure():
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the chunk failed")
    assert gc.isenabled()


def test_a_nested_pause_leaves_the_collector_to_the_outer_one():
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_cycles_each_unit_made_are_found_by_the_collectors_own_passes():
    """A warm Lambda runs unit after unit, nearly all of its time paused: the garbage cycles each one
    makes (a traceback and its frames, a thread pool) must be found without anyone forcing a full
    collection, or the instance's memory grows with every invocation until it is killed."""
    import weakref

    class Node:
        pass

    cycles = []
    for _ in range(50):
        with collector_paused():
            records = [{"n": i, "tags": [i]} for i in range(2000)]
            node = Node()
            node.me = node
            cycles.append(weakref.ref(node))
            del node
        assert records[-1] == {"n": 1999, "tags": [1999]}  # what the work made is kept while it is used
        del records
    assert sum(ref() is not None for ref in cycles) <= 1  # the last unit's may wait for the next pass
