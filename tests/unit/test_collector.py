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


def test_what_the_work_made_is_kept_and_cycles_are_still_collected_later():
    class Node:
        pass

    with collector_paused():
        kept = [{"n": i} for i in range(1000)]
        cycle = Node()
        cycle.me = cycle
        del cycle
    assert len(kept) == 1000 and kept[-1] == {"n": 999}
    assert gc.collect() >= 1  # the cycle made during the pause: found by a full collection
