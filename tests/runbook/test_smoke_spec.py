"""The smoke file: the real one parses; bad ones are rejected with the file, line, key and
what is allowed; the matching rules (subset, decimals, types) and SQL parameters."""

from __future__ import annotations

import re
import textwrap
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from workers.runbook.smoke_spec import (
    SmokeSpecError,
    bind_sql,
    load_smoke_spec,
    lookup,
    mismatches,
    parse_smoke_spec,
    render,
    sql_parameters,
    type_problem,
)
from workers.steps.smoke import render_cleanup

REPO = Path(__file__).resolve().parents[2]
GOOD_CHECK = """
  - name: ok
    http: {method: GET, path: /functions/v1/x}
    expect: {status: 200}
"""


def errors_of(text: str) -> str:
    with pytest.raises(SmokeSpecError) as failure:
        parse_smoke_spec(textwrap.dedent(text), "tests/backend/smoke.yml")
    return str(failure.value)


def test_the_repository_smoke_file_is_the_runbooks_three_tests() -> None:
    spec = load_smoke_spec(REPO, "tests/backend/smoke.yml")
    assert [c.kind for c in spec.checks] == ["http", "sql", "rls", "rls"]
    quote = spec.checks[0]
    assert quote.http is not None and quote.http.method == "POST"
    assert quote.http.path == "/functions/v1/calculate-quote"
    assert quote.expect.status == (200,)
    assert quote.expect.json_types == {"quote_id": "uuid", "expires_at": "datetime"}
    assert quote.capture == {"quote_id": "json.quote_id"}
    rls = spec.checks[2].rls
    assert rls is not None and rls.role == "authenticated"
    assert rls.claims == {"sub": "{customer}", "role": "authenticated"}
    assert sql_parameters(spec.cleanup[0]) == ["quote_id"]
    assert spec.checks[0].line > 0


@pytest.mark.parametrize(("text", "expected"), [
    ("checks: []\n", r"smoke.yml:1: checks: is required: a non-empty list"),
    ("cheks: []\n", r"cheks: unknown key in the smoke file; allowed: version, checks, cleanup"),
    ("version: 2\nchecks:" + GOOD_CHECK, r"version: must be 1"),
    ("checks:\n  - name: x\n    http: {path: /f, method: FETCH}\n    expect: {status: 200}\n",
     r"smoke.yml:3: checks\[0\].http.method: unknown method 'FETCH'; allowed: GET, POST"),
    ("checks:\n  - name: x\n    http: {path: f}\n    expect: {status: 200}\n",
     r"checks\[0\].http.path: must start with /"),
    ("checks:\n  - name: x\n    http: {path: /f}\n", r"checks\[0\].expect: is required"),
    ("checks:\n  - name: x\n    http: {path: /f}\n    sql: select 1\n    expect: {status: 200}\n",
     r"checks\[0\]: needs exactly one of http, sql, rls \(has http, sql\)"),
    ("checks:\n  - name: x\n    http: {path: /f}\n    expect: {status: 200, json_types: "
     "{a: guid}}\n",
     r"checks\[0\].expect.json_types.a: unknown type 'guid'; allowed: uuid, datetime"),
    ("checks:\n  - name: x\n    http: {path: /f}\n    expect: {status: 700}\n",
     r"checks\[0\].expect.status: is required: an HTTP status \(100-599\)"),
    ("checks:\n  - name: x\n    sql: select :nope\n    expect: {row_count: 1}\n",
     r"checks\[0\].sql: uses \{nope\} / :nope, which no earlier check captures"),
    ("checks:\n  - name: x\n    sql: select 1\n    expect: {rows: [], error: '42501'}\n",
     r"error cannot be combined with rows"),
    ("checks:\n  - name: x\n    sql: select 1\n    expect: {status: 200}\n",
     r"checks\[0\].expect.status: unknown key in an sql expectation; allowed: rows, row_count"),
    ("checks:\n  - name: x\n    sql: select 1\n    expect: {rows: [{a: 1}], row_count: 2}\n",
     r"row_count 2 contradicts the 1 rows listed"),
    ("checks:\n  - name: x\n    http: {path: /f, headers: {Authorization: x}}\n"
     "    expect: {status: 200}\n", r"is added by the bot .* set auth: false"),
    ("checks:\n  - name: x\n    http: {path: /f}\n    expect: {status: 200}\n"
     "    capture: {q: body.id}\n",
     r"checks\[0\].capture.q: cannot capture 'body.id'; allowed: json.<path>, status"),
    ("checks:\n  - name: x\n    rls: {sql: select 1}\n    expect: {row_count: 1}\n",
     r"checks\[0\].rls.as: is required: the role to query as"),
    ("checks:\n  - name: x\n    rls: {as: 'x; drop', sql: select 1}\n    expect: {row_count: 1}\n",
     r"checks\[0\].rls.as: must be a plain role name"),
    ("checks:\n  - name: x\n    sql: select 1\n    generate: {u: serial}\n"
     "    expect: {row_count: 1}\n", r"unknown generator 'serial'; allowed: uuid"),
    ("checks:" + GOOD_CHECK + GOOD_CHECK, r"checks\[1\].name: duplicate check name 'ok'"),
    ("checks:\n  - name: x\n    name: y\n", r"smoke.yml:3: name: appears twice"),
    ("checks: [\n", r"\(file\): is not valid YAML"),
    ("- just a list\n", r"\(file\): must be a mapping with a `checks` list"),
    ("checks:" + GOOD_CHECK + "cleanup: [delete from t where id = :later]\n",
     r"cleanup\[0\]: uses \{later\} / :later"),
])
def test_bad_files_are_rejected_with_a_clear_message(text: str, expected: str) -> None:
    message = errors_of(text)
    assert message.startswith("tests/backend/smoke.yml")
    assert re.search(expected, message), message


def test_every_problem_is_reported_at_once() -> None:
    message = errors_of("""
        checks:
          - name: a
            http: {path: /f, method: FETCH}
            expect: {status: 200}
          - name: b
            sql: select 1
            expect: {rows: nope}
        """)
    assert "checks[0].http.method" in message and "checks[1].expect.rows" in message
    assert len(message.splitlines()) == 2


def test_names_are_usable_only_after_they_are_captured() -> None:
    spec = parse_smoke_spec(textwrap.dedent("""
        checks:
          - name: make
            http: {method: POST, path: /functions/v1/x}
            expect: {status: 200}
            capture: {id: json.id}
          - name: read
            generate: {u: uuid}
            sql: select :id, :u, '{not_a_name}'
            expect: {rows: [{a: "{id}"}]}
        cleanup: ["delete from t where id = :id"]
        """))
    assert [c.name for c in spec.checks] == ["make", "read"]


def test_sql_parameters_ignore_casts_strings_comments_and_dollar_quotes() -> None:
    query = ("select :a::text, ':b', \"c:d\", $$ :e $$, $x$ :f $x$ -- :g\n"
             "/* :h */ , E'\\' :i', 100 % 7, :j")
    assert sql_parameters(query) == ["a", "j"]
    bound, names = bind_sql(query)
    assert names == ["a", "j"]
    assert bound.startswith("select %(a)s::text, ':b'")
    assert "100 %% 7" in bound and bound.endswith("%(j)s")
    assert bind_sql("select 100 % 7") == ("select 100 % 7", [])  # no params: untouched


def test_matching_is_a_subset_with_decimal_numbers() -> None:
    actual = {"breakdown": {"total": Decimal("24.00"), "fee": Decimal("5.00")}, "extra": 1}
    assert mismatches({"breakdown": {"total": 24}}, actual, "json") == []
    assert mismatches({"breakdown": {"total": 24.0}}, actual, "json") == []
    assert mismatches({"breakdown": {"total": 25}}, actual, "json") == [
        "json.breakdown.total: expected 25, got 24.00"]
    assert mismatches({"flag": True}, {"flag": 1}, "json") == [
        "json.flag: expected true, got 1"]
    assert mismatches({"n": 1}, {"n": True}, "json")  # a boolean is not a number
    assert mismatches({"n": "1"}, {"n": 1}, "json")  # nor is a string
    assert mismatches({"x": 1}, {}, "json") == ["json.x: missing (have: -)"]
    assert mismatches([{"a": 1}], [{"a": 1}, {"a": 2}], "rows") == [
        'rows: expected 1 item(s), got 2: [{"a": 1}, {"a": 2}]']
    row_id = uuid.uuid4()
    assert mismatches([{"id": str(row_id)}], [{"id": row_id, "more": 1}], "rows") == []


def test_templates_and_types() -> None:
    assert render({"sub": "{u}", "x": ["a{u}b", "{{u}}"]}, {"u": 7}) == {
        "sub": "7", "x": ["a7b", "{u}"]}
    data = {"quote_id": str(uuid.uuid4()), "expires_at": "2026-01-14T09:30:00.123456Z",
            "items": [{"n": 2}]}
    assert type_problem(lookup(data, "quote_id"), "uuid") is None
    assert type_problem(lookup(data, "expires_at"), "datetime") is None
    assert type_problem(lookup(data, "items.0.n"), "integer") is None
    assert type_problem("2026-01-14", "datetime") == 'expected datetime, got "2026-01-14"'
    assert type_problem("not-a-uuid", "uuid") is not None
    assert type_problem(lookup(data, "missing"), "string") == "missing"


def test_cleanup_quotes_captured_values_as_literals(fresh_db: str) -> None:
    hostile = "x'); DROP TABLE t; --"
    statements = render_cleanup(
        ("delete from t where id = :id", "delete from t where id = :later", "select 1 % 1"),
        {"id": hostile})
    assert len(statements) == 2  # the one whose value was never captured is left out
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("create table t (id text)")
        conn.execute("insert into t values (%s), ('keep')", (hostile,))
        for statement in statements:
            conn.execute(statement.encode())
        rows = conn.execute("select id from t").fetchall()
    assert rows == [("keep",)]
