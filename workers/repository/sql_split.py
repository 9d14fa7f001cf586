"""Split a SQL file into statements, each with the 1-based line where it starts.

A small lexer in the spirit of psql's: it knows where a semicolon does NOT end a statement
('…' strings with '' escapes, E'…' strings with backslash escapes, "quoted identifiers",
-- and nested /* */ comments, $tag$ dollar quotes, parentheses, and the `BEGIN ATOMIC … END`
body of a SQL-standard function). It never parses SQL beyond that: the server does.

Where it and the server disagree, a statement the server runs can hide inside what looks
like one statement here (psql's heuristic counted any BEGIN in CREATE FUNCTION, so
`CREATE FUNCTION begin() …; COMMIT;` hid the COMMIT): the body opens only at BEGIN ATOMIC,
the one unquoted body the server's grammar has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Where the lexer is at the end of the text when something was left open.
NEUTRAL = ""


@dataclass(frozen=True)
class Statement:
    sql: str  # the statement's text, from its first token to before its semicolon, stripped
    line: int  # 1-based line of its first token
    offset: int  # character offset of its first token in the file
    # The text since the previous semicolon, comments before the statement included and
    # stripped: what the Supabase CLI stores in its history's `statements`.
    source: str = ""


@dataclass(frozen=True)
class SplitResult:
    statements: list[Statement]
    # What was still open at the end of the text ("string", "comment", …), or NEUTRAL,
    # and the 1-based line where it was opened.
    unterminated: str = NEUTRAL
    unterminated_line: int = 0


_IDENT_START = re.compile(r"[A-Za-z_\x80-\U0010ffff]")
_IDENT = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")
# A dollar-quote opener: $$ or $tag$ where tag is an identifier without '$'.
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_SPACE = re.compile(r"\s+")


def split(text: str) -> SplitResult:
    """The statements of `text` in order; empty and comment-only parts are dropped."""
    return _Lexer(text).run()


def statements(text: str) -> list[Statement]:
    return split(text).statements


def has_statements(text: str) -> bool:
    """True when the text holds at least one statement (not only comments and blanks)."""
    return bool(split(text).statements)


def spans(text: str) -> list[tuple[int, int, bool]]:
    """`text` cut into consecutive (start, end, is_code) spans: False for a string, quoted
    identifier, comment or dollar-quoted body — where no character means anything to SQL —
    by the same rules the splitter uses. An unterminated one runs to the end."""
    lexer = _Lexer(text)
    out: list[tuple[int, int, bool]] = []
    i, n, code = 0, len(text), 0
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            end = text.find("\n", i)
        elif c == "/" and text.startswith("/*", i):
            end = lexer._block_comment(i)
        elif (quoted := lexer._quoted_end(i)) is not None:
            end = quoted
        elif _IDENT_START.match(c):  # whole, so `name'` or `a$b$` open nothing
            m = _IDENT.match(text, i)
            assert m is not None
            i = m.end()
            continue
        else:
            i += 1
            continue
        end = n if end < 0 else end
        if code < i:
            out.append((code, i, True))
        out.append((i, end, False))
        i = code = end
    if code < n:
        out.append((code, n, True))
    return out


def normalise(statement: str) -> str:
    """A statement without comments, whitespace runs collapsed and trailing semicolons
    removed, to compare our split with what another tool stored in the history (the
    Supabase CLI keeps the comments before a statement, and a comment-only tail as a
    statement of its own: that one normalises to "")."""
    lexer = _Lexer(statement)
    lexer.run()
    kept, last = [], 0
    for start, end in lexer.comments:
        kept.append(statement[last:start])
        kept.append(" ")
        last = end
    kept.append(statement[last:])
    return _SPACE.sub(" ", "".join(kept)).strip().rstrip("; ").strip()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[Statement] = []
        self.start: int | None = None  # offset of the current statement's first token
        self.paren = 0
        # Inside CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN ATOMIC opens a body, CASE
        # nests inside it, END closes (all at parenthesis depth 0). BEGIN alone is not
        # enough (psql's heuristic): a function may be *named* begin.
        self.words: list[str] = []
        self.begin_depth = 0
        self.after_begin = False  # the previous token was such a BEGIN
        self.segment = 0  # offset just past the previous statement's semicolon
        self.comments: list[tuple[int, int]] = []  # (start, end) of each comment
        # Lines are counted incrementally so long files stay linear.
        self.line_at = (0, 1)  # (offset, its 1-based line)

    def run(self) -> SplitResult:
        text, n = self.text, len(self.text)
        i = 0
        while i < n:
            c = text[i]
            if c.isspace():
                i += 1
            elif c == "-" and text.startswith("--", i):
                end = text.find("\n", i)
                self.comments.append((i, n if end < 0 else end))
                i = n if end < 0 else end + 1
            elif c == "/" and text.startswith("/*", i):
                start, i = i, self._block_comment(i)
                self.comments.append((start, n if i < 0 else i))
                if i < 0:
                    return self._finish("comment", start)
            elif c == ";":
                self.after_begin = False
                if self.paren == 0 and self.begin_depth == 0:
                    self._end_statement(i)
                    self.segment = i + 1
                else:
                    self._mark(i)
                i += 1
            else:
                self._mark(i)
                start = i
                if (quoted := self._quoted_end(i)) is not None:
                    i = quoted
                elif _IDENT_START.match(c):
                    m = _IDENT.match(text, i)
                    assert m is not None
                    self._word(m.group(0))
                    i = m.end()
                    continue
                else:
                    if c == "(":
                        self.paren += 1
                    elif c == ")" and self.paren > 0:
                        self.paren -= 1
                    i += 1
                self.after_begin = False  # a string, quoted name or symbol came between
                if i < 0:
                    return self._finish("dollar quote" if c == "$" else
                                        "quoted identifier" if c == '"' else "string", start)
        return self._finish(NEUTRAL, -1)

    def _mark(self, i: int) -> None:
        if self.start is None:
            self.start = i

    def _word(self, word: str) -> None:
        w = word.lower()
        self.words.append(w)
        after_begin, self.after_begin = self.after_begin, False
        if self.paren != 0 or not self._in_routine_definition():
            return
        if w == "begin":
            self.after_begin = True
        elif w == "atomic" and after_begin:
            self.begin_depth += 1
        elif w == "case" and self.begin_depth > 0:
            self.begin_depth += 1
        elif w == "end" and self.begin_depth > 0:
            self.begin_depth -= 1

    def _in_routine_definition(self) -> bool:
        head = self.words[:4]
        if head[:1] != ["create"]:
            return False
        if len(head) > 1 and head[1] in ("function", "procedure"):
            return True
        return head[1:3] == ["or", "replace"] and len(head) > 3 and head[3] in (
            "function", "procedure")

    def _quoted_end(self, i: int) -> int | None:
        """Offset just past the string, quoted identifier or dollar quote opening at i (-1
        when it never closes); None when none opens there. The one place these rules live:
        the splitter and `spans` both use it."""
        text, c = self.text, self.text[i]
        if c == "'":
            return self._quoted(i + 1, "'", backslash=False)
        if c in "eE" and text.startswith("'", i + 1):
            return self._quoted(i + 2, "'", backslash=True)
        if c == '"':
            return self._quoted(i + 1, '"', backslash=False)
        if c == "$" and (m := _DOLLAR_TAG.match(text, i)):
            end = text.find(m.group(0), m.end())
            return -1 if end < 0 else end + len(m.group(0))
        return None

    def _quoted(self, i: int, quote: str, *, backslash: bool) -> int:
        """Offset just past the closing quote (a doubled quote is an escape), or -1."""
        text, n = self.text, len(self.text)
        while i < n:
            c = text[i]
            if backslash and c == "\\":
                i += 2
            elif c == quote:
                if i + 1 < n and text[i + 1] == quote:
                    i += 2
                else:
                    return i + 1
            else:
                i += 1
        return -1

    def _block_comment(self, i: int) -> int:
        """Offset just past a (nested) /* */ comment starting at i, or -1."""
        text, n = self.text, len(self.text)
        depth = 0
        while i < n:
            if text.startswith("/*", i):
                depth += 1
                i += 2
            elif text.startswith("*/", i):
                depth -= 1
                i += 2
                if depth == 0:
                    return i
            else:
                i += 1
        return -1

    def _end_statement(self, end: int) -> None:
        if self.start is not None:
            body = self.text[self.start:end].rstrip()
            offset, line = self.line_at
            line += self.text.count("\n", offset, self.start)
            self.line_at = (self.start, line)
            source = self.text[self.segment:end].strip()
            self.out.append(Statement(body, line, self.start, source))
        self.start = None
        self.paren = 0
        self.words = []
        self.begin_depth = 0
        self.after_begin = False

    def _finish(self, unterminated: str, at: int) -> SplitResult:
        self._end_statement(len(self.text))
        line = self.text.count("\n", 0, at) + 1 if at >= 0 else 0
        return SplitResult(self.out, unterminated, line)
