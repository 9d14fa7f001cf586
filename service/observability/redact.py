"""Secret redaction: one filter for logs, dashboard pages and anything else shown to people.

It knows the secrets in play — the values registered at start (database passwords taken from
URLs, the App's private key, the webhook secret, the OAuth client secret, anon keys and any
environment variable whose name says it holds a secret) — and recognises by shape what is
minted at run time (GitHub tokens, passwords inside connection URLs, PEM private keys, JWTs).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

MASK = "[redacted]"
MIN_SECRET = 6  # shorter values would redact ordinary words; such secrets are not secrets

# Environment variables whose values are secrets by their name.
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|ANON_KEY|API_KEY|_KEY$"
                          r"|DATABASE_URL|_DB_URL|REDIS_URL|WEBHOOK)", re.IGNORECASE)
_NOT_SECRET_NAME = re.compile(r"(_PATH|_FILE|_ENV|_ID)$", re.IGNORECASE)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys, whole (also when a log line holds only part of one, the header on).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----"
                r"|$)"), MASK),
    # GitHub tokens: installation (ghs_), user-to-server (ghu_), OAuth (gho_), PATs, refresh.
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,})"), MASK),
    # Passwords in connection URLs: scheme://user:password@host
    (re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)(?P<pw>[^\s@'\"]+)(?=@)",
                re.IGNORECASE), r"\g<head>" + MASK),
    # password=... in libpq keyword strings and query strings
    (re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|[^\s&'\"]+)", re.IGNORECASE),
     r"\g<head>" + MASK),
    # JWTs (anon and service-role keys are JWTs on Supabase; App JWTs too)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    # Authorization headers and bearer credentials
    (re.compile(r"(?P<head>\bauthorization\s*[:=]\s*(?:bearer|token|basic)\s+|\bbearer\s+)"
                r"(?P<v>[A-Za-z0-9._~+/=-]{16,})", re.IGNORECASE), r"\g<head>" + MASK),
]


def url_password(url: str) -> str | None:
    """The password inside a connection URL, if it carries one."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return unquote(parts.password) if parts.password else None


class Redactor:
    """Replaces every registered secret and every secret-shaped string with MASK."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, *values: str | None) -> None:
        """Add secrets (None and very short values are ignored). A PEM key also registers
        each line of its body, so a partial print is caught too."""
        added: set[str] = set()
        for value in values:
            if not value:
                continue
            value = str(value)
            for candidate in (value, value.strip()):
                if len(candidate) >= MIN_SECRET:
                    added.add(candidate)
            if "PRIVATE KEY" in value:
                added.update(line.strip() for line in value.splitlines()
                             if len(line.strip()) >= 16 and "-----" not in line)
            password = url_password(value) if "://" in value else None
            if password:
                added.discard(value)  # a URL: its password is the secret, not the address
                added.discard(value.strip())
                if len(password) >= MIN_SECRET:
                    added.add(password)
        if not added:
            return
        with self._lock:
            if added <= self._secrets:
                return
            self._secrets |= added
            ordered = sorted(self._secrets, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def register_environment(self, env: Mapping[str, str] | None = None) -> None:
        """Register the values of environment variables named like secrets, and the
        passwords of any connection URL among them."""
        e = os.environ if env is None else env
        for name, value in e.items():
            if not value:
                continue
            if "://" in value:  # a URL: only its password is secret, not the host or name
                self.register(url_password(value))
            elif _SECRET_NAME.search(name) and not _NOT_SECRET_NAME.search(name):
                self.register(value)

    def secrets(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._secrets)

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for regex, replacement in _PATTERNS:
            text = regex.sub(replacement, text)
        return text


# The process-wide redactor: the web process and the workers register what they hold.
REDACTOR = Redactor()


def register(*values: str | None) -> None:
    REDACTOR.register(*values)


def redact(text: str) -> str:
    return REDACTOR.redact(text)


def redact_with(text: str, secrets: Iterable[str]) -> str:
    """`text` redacted, and these values masked too whatever their length (a password a
    tool was just given, which nothing registered): for a tool's error shown to people."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return REDACTOR.redact(text)


def redact_json(value: object) -> object:
    """Every string inside a JSON-like value, redacted (keys too: they may be output)."""
    if isinstance(value, str):
        return REDACTOR.redact(value)
    if isinstance(value, Mapping):
        return {redact_json(k) if isinstance(k, str) else k: redact_json(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value


def register_secrets_in_play(*, database_urls: Iterable[str | None] = (),
                             app: object | None = None,
                             env: Mapping[str, str] | None = None) -> None:
    """What a process registers at start: its database and Redis URLs' passwords, the
    GitHub App's private key, webhook secret and OAuth client secret, and the environment's
    secret-named variables (per-environment database URLs and anon keys among them)."""
    for url in database_urls:
        if url:
            REDACTOR.register(url_password(url))
    if app is not None:
        for attr in ("private_key", "webhook_secret", "client_secret"):
            REDACTOR.register(getattr(app, attr, None))
    REDACTOR.register_environment(env)
