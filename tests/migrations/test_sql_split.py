"""The SQL splitter: where statements end, and the line each starts on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.repository.sql_split import has_statements, normalise, spans, split, statements


def sqls(text: str) -> list[str]:
    return [s.sql for s in statements(text)]


def test_statements_and_their_lines() -> None:
    text = "CREATE TABLE a (id int);\n\n  INSERT INTO a\n  VALUES (1);\nSELECT 1"
    got = statements(text)
    assert [(s.sql, s.line) for s in got] == [
        ("CREATE TABLE a (id int)", 1),
        ("INSERT INTO a\n  VALUES (1)", 3),
        ("SELECT 1", 5),  # the last statement needs no semicolon
    ]
    assert text[got[1].offset:].startswith("INSERT")


def test_semicolons_inside_strings_and_identifiers_do_not_split() -> None:
    text = (
        "SELECT 'a;b', 'it''s; fine';\n"
        "SELECT E'back\\'slash; still', E'\\\\';\n"  # E'\\' is one backslash: string ends
        'SELECT 1 AS "odd;name", 2 AS "quo""te;";\n'
        "SELECT U&'d\\0061t;a', B'1010', X'1F';\n"
    )
    assert sqls(text) == [
        "SELECT 'a;b', 'it''s; fine'",
        "SELECT E'back\\'slash; still', E'\\\\'",
        'SELECT 1 AS "odd;name", 2 AS "quo""te;"',
        "SELECT U&'d\\0061t;a', B'1010', X'1F'",
    ]


def test_a_backslash_in_a_standard_string_is_just_a_character() -> None:
    # standard_conforming_strings: 'C:\' is a whole string; the ';' after it splits.
    assert sqls("SELECT 'C:\\'; SELECT 2") == ["SELECT 'C:\\'", "SELECT 2"]


def test_comments() -> None:
    text = (
        "-- a comment; with a semicolon\n"
        "SELECT 1; -- trailing; comment\n"
        "/* block; /* nested; */ still comment; */ SELECT 2;\n"
        "SELECT 3 /* inside */ + 4;\n"
        "-- comment-only tail;\n"
        "/* and another */\n"
    )
    got = statements(text)
    assert [(s.sql, s.line) for s in got] == [
        ("SELECT 1", 2),
        ("SELECT 2", 3),
        ("SELECT 3 /* inside */ + 4", 4),
    ]


def test_dollar_quotes() -> None:
    text = (
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  PERFORM 1; RETURN 2;\nEND;\n$$;\n"
        "DO $body$ BEGIN RAISE NOTICE '$$;'; EXECUTE $q$SELECT 1;$q$; END $body$;\n"
        "PREPARE p(int) AS SELECT $1; SELECT a$b$c FROM t;\n"
    )
    got = statements(text)
    assert [s.line for s in got] == [1, 6, 7, 7]
    assert got[0].sql.endswith("END;\n$$")
    assert got[1].sql.startswith("DO $body$") and got[1].sql.endswith("END $body$")
    assert [s.sql for s in got[2:]] == ["PREPARE p(int) AS SELECT $1", "SELECT a$b$c FROM t"]


def test_begin_atomic_bodies() -> None:
    text = (
        "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n"
        "  SELECT CASE WHEN a IS NULL THEN 0 ELSE a END + b;\n"
        "  SELECT 1;\n"
        "END;\n"
        "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END;\n"
        "BEGIN;\nSELECT 2;\nEND;\n"  # a transaction, not a body: it splits as usual
    )
    got = statements(text)
    assert [(s.line, s.sql.split()[0]) for s in got] == [
        (1, "CREATE"), (6, "CREATE"), (7, "BEGIN"), (8, "SELECT"), (9, "END")]
    assert got[0].sql.endswith("SELECT 1;\nEND")
    assert got[1].sql.endswith("VALUES (1); END")


def test_parentheses_keep_a_statement_together() -> None:
    # A ';' inside parentheses is a syntax error for the server, not a statement end.
    assert len(statements("SELECT (1; 2); SELECT 3")) == 2


def test_empty_and_comment_only_files() -> None:
    assert statements("") == []
    assert statements(" ;\n;; -- nothing\n/* x */") == []
    assert not has_statements("-- deploybot:rollback no-op\n")
    assert has_statements("-- x\nSELECT 1")


def test_unterminated_constructs_are_reported() -> None:
    assert split("SELECT 1; /* open").unterminated == "comment"
    assert split("SELECT 'open").unterminated == "string"
    assert split('SELECT "open').unterminated == "quoted identifier"
    assert split("SELECT $x$ open").unterminated == "dollar quote"
    assert split("SELECT 1;").unterminated == ""
    assert split("SELECT 1;\n\n/* open\n").unterminated_line == 3


def test_source_keeps_leading_comments_like_the_supabase_cli() -> None:
    got = statements("-- leading\nCREATE TABLE a (id int);  -- trailing\n/* b */ SELECT 1;\n")
    assert [s.source for s in got] == [
        "-- leading\nCREATE TABLE a (id int)",
        "-- trailing\n/* b */ SELECT 1",
    ]
    assert [s.line for s in got] == [2, 3]


def test_normalise_ignores_comments_whitespace_and_semicolons() -> None:
    assert normalise("-- x\nCREATE  TABLE\n a (id int);;") == "CREATE TABLE a (id int)"
    assert normalise("/* only a comment */") == ""
    assert normalise("SELECT '--not a comment'") == "SELECT '--not a comment'"


def test_lines_with_crlf() -> None:
    got = statements("SELECT 1;\r\n\r\nSELECT 2;\r\n")
    assert [(s.sql, s.line) for s in got] == [("SELECT 1", 1), ("SELECT 2", 3)]


_literal = st.sampled_from([
    "'a;b'", "'it''s'", "E'x\\'y;'", '"id;x"', "$$ ; $$", "$t$ $$ ; $t$", "1", "(2; 3)",
    "/* c; */ 4",
])


@given(st.lists(st.lists(_literal, min_size=1, max_size=4), min_size=1, max_size=6),
       st.sampled_from(["\n", " ", "\n-- c;\n", "\n\n"]))
def test_joined_statements_split_back(parts: list[list[str]], sep: str) -> None:
    originals = ["SELECT " + ", ".join(p) for p in parts]
    text = sep.join(s + ";" for s in originals)
    got = statements(text)
    assert [s.sql for s in got] == originals
    for s in got:
        assert s.line == text.count("\n", 0, s.offset) + 1


def test_spans_mark_what_is_not_code_by_the_splitters_rules() -> None:
    text = "select 'a;b', e'\\'', \"x\"\"y\", $f$ :p $f$ /* /* :q */ */ :r -- :s\n"
    parts = [(text[a:b], code) for a, b, code in spans(text)]
    assert "".join(p for p, _ in parts) == text  # consecutive, nothing lost
    assert [p for p, code in parts if not code] == [
        "'a;b'", "e'\\''", '"x""y"', "$f$ :p $f$", "/* /* :q */ */", "-- :s"]
    assert ":r" in "".join(p for p, code in parts if code)
