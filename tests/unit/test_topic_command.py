"""`trendoff topic --partitions N` refuses a count that is no partition count before it asks Kafka anything."""

from __future__ import annotations

import pytest

from trendoff.apps.cli import main as trendoff_main


@pytest.mark.parametrize(("value", "message"), [("0", "a topic has at least 1 partition"),
                                                ("five", "'five' is not a whole number")])
def test_a_partition_count_that_is_not_a_positive_whole_number_is_one_line_and_exit_2(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        trendoff_main(["topic", "--partitions", value, "--bootstrap", "127.0.0.1:1"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"argument --partitions: {message}")
