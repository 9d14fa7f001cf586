"""Every body the bot sends to GitHub passes here (Requester.request): redacted first, its
internal hosts, ports and paths hidden (internal.py), then cut to GitHub's limits.

The order matters. Redaction changes lengths (a short password becomes `[redacted]`), so a
body cut to the limit first and redacted after can grow past it, and GitHub refuses it with
a 422: the report never arrives. A cut made first can also split a secret, leaving a piece
the redactor no longer recognises. So nothing upstream needs to cut for GitHub's sake;
this is the one place that does, after redaction.

Prepare a body once: the requester does, and hands what it sent to a `create`'s `find`
(what GitHub holds, to recognise it again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from service.github import limits
from service.github.internal import hide_json
from service.observability.redact import redact_json

Fit = Callable[[dict[str, Any], str | None], dict[str, Any]]


def _annotation(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    out = dict(item)
    for key in ("message", "raw_details"):
        if isinstance(out.get(key), str):
            out[key] = limits.truncate_bytes(out[key], limits.ANNOTATION_TEXT_MAX_BYTES)
    if isinstance(out.get("title"), str):
        out["title"] = limits.short(out["title"], limits.ANNOTATION_TITLE_MAX)
    return out


def _check_run(body: dict[str, Any], link: str | None) -> dict[str, Any]:
    output = body.get("output")
    if not isinstance(output, Mapping):
        return body
    where = link or (body.get("details_url") if isinstance(body.get("details_url"), str)
                     else None)
    fitted = dict(output)
    for key in ("summary", "text"):
        if isinstance(fitted.get(key), str):
            fitted[key] = limits.truncate(fitted[key], limits.OUTPUT_TEXT_MAX, where=where)
    if isinstance(fitted.get("annotations"), list):
        fitted["annotations"] = [_annotation(a) for a in fitted["annotations"]]
    return {**body, "output": fitted}


def _comment(body: dict[str, Any], link: str | None) -> dict[str, Any]:
    if not isinstance(body.get("body"), str):
        return body
    return {**body, "body": limits.truncate(body["body"], limits.COMMENT_MAX, where=link)}


def _issue(body: dict[str, Any], link: str | None) -> dict[str, Any]:
    out = _comment(body, link)
    if isinstance(out.get("title"), str):
        out = {**out, "title": limits.short(out["title"], limits.ISSUE_TITLE_MAX)}
    return out


def _deployment_status(body: dict[str, Any], link: str | None) -> dict[str, Any]:
    if not isinstance(body.get("description"), str):
        return body
    return {**body, "description": limits.short(body["description"],
                                                limits.DEPLOYMENT_STATUS_DESCRIPTION_MAX)}


# Route templates (as the client names them) whose bodies GitHub limits.
FITS: dict[str, Fit] = {
    "/repos/{owner}/{repo}/check-runs": _check_run,
    "/repos/{owner}/{repo}/check-runs/{check_run_id}": _check_run,
    "/repos/{owner}/{repo}/issues/{issue_number}/comments": _comment,
    "/repos/{owner}/{repo}/issues/comments/{comment_id}": _comment,
    "/repos/{owner}/{repo}/issues": _issue,
    "/repos/{owner}/{repo}/issues/{issue_number}": _issue,
    "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses": _deployment_status,
}


def prepare(route: str, body: Any, *, link: str | None = None) -> Any:
    """`body` as GitHub may see it: every string redacted, then the long ones cut to the
    route's limits; a cut long text ends with a note pointing at `link` (the full log on the
    dashboard; a check run's own `details_url` when no link is given)."""
    if body is None:
        return None
    clean = hide_json(redact_json(body))
    fit = FITS.get(route)
    if fit is None or not isinstance(clean, dict):
        return clean
    return fit(clean, link)
