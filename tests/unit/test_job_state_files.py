"""Reading a Spark checkpoint's committed offsets, and which checkpoint folders can be checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trendoff.errors import TrendoffError
from trendoff.streaming.job_state import committed_offsets, is_local_folder


def write_batch(folder: Path, batch_id: int, offsets: dict[str, int], committed: bool) -> None:
    (folder / "offsets").mkdir(parents=True, exist_ok=True)
    (folder / "commits").mkdir(parents=True, exist_ok=True)
    # Spark 3.5's layout: a version line, the batch metadata, then one line of offsets per source.
    (folder / "offsets" / str(batch_id)).write_text(
        "v1\n" + json.dumps({"batchWatermarkMs": 0, "batchTimestampMs": 1}) + "\n" + json.dumps({"tw": offsets}))
    if committed:
        (folder / "commits" / str(batch_id)).write_text('v1\n{"nextBatchWatermarkMs":0}')


def test_the_offsets_of_the_last_committed_micro_batch_are_where_spark_resumes(tmp_path: Path) -> None:
    assert committed_offsets(tmp_path, "tw") is None
    write_batch(tmp_path, 0, {"0": 5, "1": 2}, committed=True)
    write_batch(tmp_path, 1, {"0": 9, "1": 4}, committed=True)
    write_batch(tmp_path, 2, {"0": 12, "1": 8}, committed=False)  # planned, not done: run again at restart
    (tmp_path / "commits" / ".1.crc").write_text("x")
    assert committed_offsets(tmp_path, "tw") == {0: 9, 1: 4}


def test_an_unreadable_checkpoint_is_one_line_saying_reset(tmp_path: Path) -> None:
    write_batch(tmp_path, 0, {"0": 5}, committed=True)
    with pytest.raises(TrendoffError) as refused:
        committed_offsets(tmp_path, "another-topic")
    assert refused.value.reason == "bad-checkpoint" and "--reset" in refused.value.message


@pytest.mark.parametrize(("folder", "local"), [("run/checkpoints/ingest-ks-t", True), ("/tmp/x", True),
                                               ("hdfs:///trendoff/ingest", False), ("s3a://bucket/x", False)])
def test_only_local_checkpoints_are_checked_here(folder: str, local: bool) -> None:
    assert is_local_folder(Path(folder)) is local


def test_reset_refuses_to_delete_a_folder_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    from trendoff.streaming.job_state import _check_is_a_checkpoint

    write_batch(tmp_path / "checkpoint", 0, {"0": 1}, committed=True)
    (tmp_path / "checkpoint" / "metadata").write_text('{"id":"x"}')
    _check_is_a_checkpoint(tmp_path / "checkpoint")  # a checkpoint: fine
    _check_is_a_checkpoint(tmp_path / "missing")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("years of work")
    with pytest.raises(TrendoffError) as refused:
        _check_is_a_checkpoint(tmp_path / "home")
    assert refused.value.reason == "not-a-checkpoint" and (tmp_path / "home" / "thesis.tex").exists()
