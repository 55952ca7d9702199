"""The kill harness, 3 kills (bench/bench_kill.py runs 25): SIGKILL a real ``fromnoise train`` at random
moments and inside a checkpoint write, rerun the same command, and check what survives."""

import pytest

from bench.bench_kill import run_harness


@pytest.mark.slow
def test_three_kills_lose_at_most_one_interval_and_end_bitwise_equal(tmp_path):
    res = run_harness(tmp_path, kills=3, steps=24, save_every=4, seed=3, log=lambda *_: None)
    assert res["failures"] == []
    assert res["kills_survived"] == res["kills_tried"] >= 1
    assert res["max_steps_lost"] <= 4
    assert res["final_bitwise_equal"]
