from __future__ import annotations

from conformance.suite.report import MAX_REASON_WIDTH, CaseResult, Outcome, exit_code, summary, table


def test_a_failure_makes_the_exit_code_1_and_skips_do_not():
    passed = CaseResult("parallel_job", "succeeds", Outcome.PASS, "ok")
    skipped = CaseResult("parallel_job", "watch-recovery", Outcome.SKIP, "needs the emulator")
    failed = CaseResult("job_set", "abort", Outcome.FAIL, "still there")
    assert exit_code([passed, skipped]) == 0
    assert exit_code([passed, skipped, failed]) == 1
    assert summary([passed, skipped, failed]) == "1 passed, 1 failed, 1 skipped (3 cases)"


def test_the_table_has_one_row_per_case_and_wraps_long_reasons():
    long = "x" * (MAX_REASON_WIDTH + 10)
    text = table([CaseResult("job_set", "succeeds", Outcome.FAIL, long, 1.25)])
    lines = text.splitlines()
    assert lines[0].split() == ["TASK", "TYPE", "CASE", "RESULT", "TIME", "REASON"]
    assert lines[1].split()[:4] == ["job_set", "succeeds", "FAIL", "1.2s"]
    assert lines[2].strip() == "x" * 10
    assert lines[1].index("x") == lines[2].index("x")
