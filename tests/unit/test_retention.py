"""Which offsets a job would resume from that the broker no longer holds."""

from __future__ import annotations

from trendoff.streaming.retention import Gap, gaps_before, with_added_partitions


def test_a_gap_is_only_where_the_resume_position_is_below_the_first_message_left() -> None:
    resume = {0: 20, 1: 40, 2: 5}
    first_on_broker = {0: 35, 1: 40, 2: 0, 3: 9}  # p3: the job has no position there, so nothing it missed
    assert gaps_before(resume, first_on_broker) == [Gap(0, 20, 35)]
    assert gaps_before(resume, first_on_broker)[0].messages == 15
    assert gaps_before({}, first_on_broker) == []


def test_partitions_added_after_a_checkpoint_are_resumed_from_offset_zero() -> None:
    checkpoint = {0: 20, 1: 40, 2: 5}  # the topic had 3 partitions when the checkpoint was made
    first_on_broker = {0: 0, 1: 0, 2: 0, 3: 0, 4: 7}  # then 2 were added; retention deleted p4's first 7
    resume = with_added_partitions(checkpoint, first_on_broker)
    assert resume == {0: 20, 1: 40, 2: 5, 3: 0, 4: 0}
    assert gaps_before(resume, first_on_broker) == [Gap(4, 0, 7)]
    assert with_added_partitions(checkpoint, {0: 0, 1: 0, 2: 0}) == checkpoint
