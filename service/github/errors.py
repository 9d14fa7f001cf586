"""What a GitHub call can fail with. Messages name the route and GitHub's own message, never
a token or an Authorization header."""

from __future__ import annotations

from typing import Any


class GitHubError(RuntimeError):
    """GitHub answered with an error status (after any retries)."""

    def __init__(self, method: str, route: str, status: int | None, message: str,
                 errors: list[Any] | None = None, documentation_url: str | None = None) -> None:
        self.method = method
        self.route = route
        self.status = status
        self.message = message
        self.errors = errors or []
        self.documentation_url = documentation_url
        super().__init__(self._describe())

    def _describe(self) -> str:
        status = f" → {self.status}" if self.status is not None else ""
        text = f"GitHub {self.method} {self.route}{status}: {self.message}"
        if self.errors:
            text += " (" + "; ".join(_error_text(e) for e in self.errors) + ")"
        return text


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        if error.get("message"):
            field = error.get("field")
            return f"{field}: {error['message']}" if field else str(error["message"])
        return ", ".join(f"{k}={v}" for k, v in error.items())
    return str(error)


class GitHubUnauthorized(GitHubError):
    """401: the app JWT or the installation token was refused (wrong key, clock skew)."""


class GitHubForbidden(GitHubError):
    """403 that is not a rate limit: the App lacks a permission on this repository."""


class GitHubNotFound(GitHubError):
    """404: missing, or not visible to this installation."""


class GitHubConflict(GitHubError):
    """409."""


class GitHubValidationError(GitHubError):
    """422: GitHub refused the request body; `errors` has its field-level reasons."""


class GitHubRateLimited(GitHubError):
    """Rate limited for longer than the client may wait: retry after `retry_after` seconds
    (re-enqueue the job rather than hold a worker)."""

    def __init__(self, method: str, route: str, status: int | None, message: str,
                 retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(method, route, status, message)


class GitHubUnavailable(GitHubError):
    """5xx answers, timeouts or connection errors on every attempt."""


class GitHubUncertain(GitHubUnavailable):
    """A request that must not be repeated blindly (a POST that creates something) timed
    out, lost its connection or got a 5xx: GitHub may or may not have acted on it."""


class GitHubUsageError(ValueError):
    """A programmer mistake caught before sending (a check-run action label over 20 characters,
    more than 3 actions, ...): fix the calling code."""


_BY_STATUS: dict[int, type[GitHubError]] = {
    401: GitHubUnauthorized,
    403: GitHubForbidden,
    404: GitHubNotFound,
    409: GitHubConflict,
    422: GitHubValidationError,
}


def error_for_status(status: int) -> type[GitHubError]:
    if status >= 500:
        return GitHubUnavailable
    return _BY_STATUS.get(status, GitHubError)
