"""JSON logs: one object a line, each with the delivery id and deployment id in effect
(null when none), and every secret redacted.

The ids live in context variables, so they follow a webhook or a job through every await
without being passed around:

    with bound(delivery_id="72d3162e-…"):
        log.info("handling")        # {"msg": "handling", "delivery_id": "72d3162e-…", …}
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from service.observability.redact import REDACTOR, Redactor

# Always present on a line; more keys (job, request_id, repo, environment) when bound.
ALWAYS = ("delivery_id", "deployment_id")
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "deploybot_log_context", default={})  # noqa: B039  (never mutated: replaced on bind)


def bind(**fields: Any) -> contextvars.Token[dict[str, Any]]:
    """Add fields to the log context of this task (and the tasks it starts)."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def reset(token: contextvars.Token[dict[str, Any]]) -> None:
    _context.reset(token)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        _context.reset(token)


def current() -> dict[str, Any]:
    return dict(_context.get())


class RedactingFilter(logging.Filter):
    """Redacts the formatted message and any exception text before a handler writes them."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = self.redactor(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        record.exc_info = None  # the redacted text replaces the traceback
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = _context.get()
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ALWAYS:
            line[key] = context.get(key)
        for key, value in context.items():
            line.setdefault(key, value)
        if record.exc_text:
            line["exc"] = record.exc_text
        elif record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For people at a terminal: the same context, as `key=value` after the message."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{record.levelname} {record.name}: {record.getMessage()}"
        context = _context.get()
        extra = " ".join(f"{k}={v}" for k, v in context.items())
        text = f"{base} [{extra}]" if extra else base
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


def handler(stream: TextIO | None = None, *, json_lines: bool = True,
            redactor: Redactor = REDACTOR) -> logging.Handler:
    h = logging.StreamHandler(stream or sys.stderr)
    h.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    h.addFilter(RedactingFilter(redactor))
    return h


def configure(*, json_lines: bool = True, level: int = logging.INFO,
              stream: TextIO | None = None) -> logging.Handler:
    """Send every log record (uvicorn's and arq's included) through one redacting handler."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    h = handler(stream, json_lines=json_lines)
    root.addHandler(h)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    return h
