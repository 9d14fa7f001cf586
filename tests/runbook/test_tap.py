"""The TAP reader of the verify step (pgTAP and the RLS suite)."""

from __future__ import annotations

from workers.runbook.tap import parse


def test_all_ok() -> None:
    report = parse("1..3\nok 1 - anon sees nothing\nok 2 - owners see theirs\nok 3 - c\n")
    assert report.passed and report.problems() == []
    assert [t.number for t in report.tests] == [1, 2, 3]
    assert report.tests[1].name == "owners see theirs"


def test_not_ok_with_reason_and_diagnostics() -> None:
    report = parse("1..2\nok 1 - a\nnot ok 2 - customers see only their quotes "
                   "# 2 rows of another customer were visible\n#   got: 2\n#   expected: 0\n")
    assert not report.passed
    [failure] = report.failures
    assert failure.number == 2 and failure.name == "customers see only their quotes"
    assert failure.reason == "2 rows of another customer were visible"
    assert failure.diagnostics == ["got: 2", "expected: 0"]
    assert report.problems() == [
        "not ok 2 - customers see only their quotes (2 rows of another customer were visible)"]


def test_fewer_results_than_planned_names_the_missing_ones() -> None:
    report = parse("1..6\nok 1 - a\nok 2 - b\nok 5 - e\n")
    assert not report.passed
    assert report.missing == [3, 4, 6]
    assert report.problems() == ["3 of 6 planned tests reported nothing: 3-4, 6"]


def test_psql_errors_fail_the_run() -> None:
    stderr = ('psql:tests/backend/rls_suite.sql:120: ERROR:  relation "public.quotes" does '
              'not exist\nLINE 1: SELECT * FROM public.quotes\n')
    report = parse("1..1\nok 1 - a\n", stderr)
    assert not report.passed
    assert report.errors == ['ERROR:  relation "public.quotes" does not exist']
    assert report.problems() == ['psql: ERROR:  relation "public.quotes" does not exist']


def test_no_plan_and_no_output() -> None:
    assert parse("").problems() == [
        "no plan line (1..N): the suite did not run to its start or end"]
    report = parse("ok 1 - a\n")
    assert not report.passed and report.plan is None


def test_plan_at_the_end_skip_todo_and_unnumbered() -> None:
    report = parse("ok - first\nok - second # SKIP no storage here\n"
                   "not ok - third # TODO not written yet\n1..3\n")
    assert report.passed
    assert [t.number for t in report.tests] == [1, 2, 3]
    assert report.tests[1].directive == "SKIP" and report.tests[1].reason == "no storage here"
    assert report.tests[2].directive == "TODO" and not report.tests[2].failed


def test_duplicates_extras_and_bail_out() -> None:
    report = parse("1..2\nok 1 - a\nok 1 - a again\nok 2 - b\nok 3 - c\nBail out! lost it\n")
    assert report.problems() == ["tests beyond the plan of 2: 3",
                                 "tests reported more than once: 1",
                                 "Bail out! lost it"]


def test_tap_sent_as_notices_and_psql_noise_is_ignored() -> None:
    stderr = ("psql:suite.sql:3: NOTICE:  1..2\npsql:suite.sql:4: NOTICE:  ok 1 - a\n"
              "psql:suite.sql:5: NOTICE:  not ok 2 - b # denied\n")
    report = parse("SET\nBEGIN\nROLLBACK\n", stderr)
    assert report.plan == 2
    assert [t.line() for t in report.tests] == ["ok 1 - a", "not ok 2 - b # denied"]
    assert len(report.failures) == 1
