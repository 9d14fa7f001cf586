"""GET /openapi.json: an OpenAPI 3 description of every route the web process serves.

Written by hand next to the routes (service/app.py and the route lists it mounts); a test
checks that every mounted route is described and fuzzes the running app against it with
schemathesis, so the two cannot drift apart unnoticed."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from service.api.deployments import KINDS, MAX_LIMIT, STATUSES

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, _ref("Error"))


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _redirect(description: str) -> dict[str, Any]:
    return {"description": description,
            "headers": {"Location": {"schema": {"type": "string"}, "required": True}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _header(name: str, description: str, required: bool = False, **schema: Any
            ) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string", **schema}}


def _id(name: str, what: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": what,
            "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}


def _page(summary: str, *, params: list[dict[str, Any]] | None = None,
          missing: str | None = None) -> dict[str, Any]:
    """A dashboard page: the page when signed in, else off to sign in."""
    responses: dict[str, Any] = {
        "200": _html("the page"),
        "303": _redirect("not signed in (to /login), or GitHub permissions to refresh "
                         "(to /auth/github)"),
    }
    if missing:
        responses["404"] = _html(missing)
    return {"summary": summary, "tags": ["dashboard"], "parameters": params or [],
            "responses": responses}


def _form_action(summary: str, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A dashboard button: a same-site form post with the session's CSRF token."""
    return {
        "summary": summary, "tags": ["dashboard"],
        "requestBody": {"required": True, "content": {FORM: {"schema": {
            "type": "object", "required": ["csrf", *fields],
            "properties": {"csrf": {"type": "string"}, **fields}}}}},
        "responses": {
            "303": _redirect("done, or not signed in (to /login)"),
            "400": _html("the form names nothing to act on"),
            "403": _html("cross-site form, stale form, or not allowed"),
            "404": _html("no such deployment or repository that you can read"),
            "409": _html("nothing to do: why, and what to do instead"),
        },
    }


DEPLOYMENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "repo", "environment", "kind", "commit_sha", "status", "trigger",
                 "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "repo": {"type": "string"},
        "environment": {"type": "string"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "commit_sha": {"type": "string"},
        "ref": {"type": "string", "nullable": True},
        "status": {"type": "string", "enum": list(STATUSES)},
        "trigger": {"type": "string"},
        "requested_by": {"type": "string", "nullable": True},
        "pr_number": {"type": "integer", "nullable": True},
        "rollback_of": {"type": "integer", "nullable": True},
        "failed_step": {"type": "string", "nullable": True},
        "reason": {"type": "string", "nullable": True},
        "stop_the_line": {"type": "string", "nullable": True},
        "forced_reason": {"type": "string", "nullable": True},
        "details": {"type": "object"},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "format": "date-time", "nullable": True},
        "finished_at": {"type": "string", "format": "date-time", "nullable": True},
        "duration_seconds": {"type": "number", "nullable": True},
    },
}

WEBHOOK_BODY: dict[str, Any] = {
    "type": "object",
    "description": "The event's payload as GitHub sends it; only these fields are read "
                   "at intake, the rest is recorded as it is.",
    "properties": {
        "action": {"type": "string"},
        "installation": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "repository": {"type": "object", "properties": {"full_name": {"type": "string"}}},
        "zen": {"type": "string", "description": "ping only"},
    },
}

WEBHOOKS: dict[str, Any] = {
    "summary": "Receive a GitHub webhook delivery",
    "description": "Verifies X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the "
                   "webhook secret), records handled events once per X-GitHub-Delivery and "
                   "queues them for the workers; answers at once. Other events are "
                   "acknowledged and dropped.",
    "tags": ["webhooks"],
    "parameters": [
        _header("X-GitHub-Event", "the event name, e.g. issue_comment", True,
                pattern=r"\S"),
        _header("X-GitHub-Delivery", "the delivery's GUID, stable across redeliveries", True,
                pattern=r"\S", maxLength=200),
        _header("X-Hub-Signature-256", "`sha256=` and the hex HMAC-SHA256 of the body"),
    ],
    "requestBody": {"required": True, "content": {
        JSON: {"schema": WEBHOOK_BODY},
        FORM: {"schema": {"type": "object", "properties": {
            "payload": {"type": "string", "description": "the JSON payload"}}}},
    }},
    "responses": {
        "200": _json("ping answered", {
            "type": "object", "required": ["ok", "pong"],
            "properties": {"ok": {"type": "boolean"}, "pong": {}}}),
        "202": _json("accepted (recorded and queued), a duplicate delivery, or an event "
                     "deploybot does not handle", {
            "type": "object",
            "properties": {"accepted": {"type": "string"}, "duplicate": {"type": "boolean"},
                           "ignored": {"type": "string"}}}),
        "400": _error("headers missing, or the body is not a JSON object"),
        "401": _error("the signature is missing or does not match"),
        "413": _error("larger than 25 MB"),
        "503": _error("deploybot is not set up yet (no webhook secret): see /setup"),
    },
}


def description() -> dict[str, Any]:
    dep_id = _id("deployment_id", "a deployment's id")
    return {
        "openapi": "3.0.3",
        "info": {"title": "deploybot", "version": "1",
                 "description": "The web process of deploybot: GitHub webhook intake, "
                                "health checks, the deployment log API, metrics, setup and "
                                "the dashboard. It never runs a deployment step itself."},
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"}}},
                "Deployment": DEPLOYMENT,
            },
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "deploybot_session"},
                "metricsToken": {"type": "http", "scheme": "bearer",
                                 "description": "DEPLOYBOT_METRICS_TOKEN"},
                "apiToken": {"type": "http", "scheme": "bearer",
                             "description": "DEPLOYBOT_API_TOKEN, or the dashboard's "
                                            "sign-in token"},
            },
        },
        "paths": {
            "/webhooks": {"post": WEBHOOKS},
            "/healthz": {"get": {
                "summary": "The process is up", "tags": ["health"],
                "responses": {"200": _json("up", {
                    "type": "object", "required": ["ok"],
                    "properties": {"ok": {"type": "boolean", "enum": [True]}}})}}},
            "/readyz": {"get": {
                "summary": "PostgreSQL and Redis are reachable", "tags": ["health"],
                "responses": {
                    "200": _json("ready", {"type": "object", "required": ["ok"],
                                           "properties": {"ok": {"type": "boolean"}}}),
                    "503": _json("not ready: which server cannot be reached", {
                        "type": "object", "required": ["ok", "unreachable"],
                        "properties": {"ok": {"type": "boolean"}, "unreachable": {
                            "type": "object",
                            "additionalProperties": {"type": "string"}}}}),
                }}},
            "/api/deployments": {"get": {
                "summary": "The deployment log, newest first", "tags": ["api"],
                "description": "Needs a dashboard session or an API token; lists only the "
                               "repositories the caller can read (a GitHub sign-in: those "
                               "GitHub reported; a token: all).",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [
                    _query("repo", "owner/name"),
                    _query("environment", "an environment's name"),
                    _query("status", "a deployment status",
                           {"type": "string", "enum": list(STATUSES)}),
                    _query("kind", "deploy, rollback or dry_run",
                           {"type": "string", "enum": list(KINDS)}),
                    _query("since", "created at or after (ISO 8601 with a time zone)",
                           {"type": "string", "format": "date-time"}),
                    _query("until", "created before (ISO 8601 with a time zone)",
                           {"type": "string", "format": "date-time"}),
                    _query("limit", "how many, newest first",
                           {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                            "default": 50}),
                ],
                "responses": {
                    "200": _json("the deployments", {
                        "type": "object", "required": ["deployments", "count"],
                        "properties": {"deployments": {"type": "array",
                                                       "items": _ref("Deployment")},
                                       "count": {"type": "integer"}}}),
                    "400": _error("an unknown filter or a value out of range: which, and "
                                  "what is allowed"),
                    "401": _error("no dashboard session and no (or a wrong) bearer token, "
                                  "or a GitHub sign-in to renew: how to authenticate"),
                }}},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (deploybot_*)", "tags": ["health"],
                "description": "Open without a token only when the server listens on "
                               "loopback alone; else DEPLOYBOT_METRICS_TOKEN as a bearer "
                               "token.",
                "security": [{}, {"metricsToken": []}],
                "responses": {
                    "200": {"description": "Prometheus text format", "content": {
                        "text/plain": {"schema": {"type": "string"}}}},
                    "401": _text("DEPLOYBOT_METRICS_TOKEN is set and was not sent"),
                    "403": _text("no DEPLOYBOT_METRICS_TOKEN and the server listens beyond "
                                 "loopback: metrics are off, the body names the fix"),
                }}},
            "/openapi.json": {"get": {
                "summary": "This description", "tags": ["api"],
                "responses": {"200": _json("OpenAPI 3", {"type": "object"})}}},
            "/setup": {"get": {
                "summary": "Register the GitHub App from its manifest (first start)",
                "tags": ["setup"], "parameters": [_query("org", "register under this "
                                                                "organization")],
                "responses": {
                    "200": _html("the registration form, or what was registered"),
                    "303": _redirect("sign in first"),
                    "403": _html("only the operator sets deploybot up"),
                    "500": _html("this server has no App manifest to offer"),
                }}},
            "/setup/callback": {"get": {
                "summary": "GitHub's redirect after the App was created", "tags": ["setup"],
                "parameters": [_query("code", "GitHub's one-time code"),
                               _query("state", "the state this server issued")],
                "responses": {
                    "200": _html("what was registered"),
                    "303": _redirect("sign in first"),
                    "400": _html("the registration did not start here"),
                    "403": _html("only the operator sets deploybot up"),
                    "500": _html("this server has no data directory for the credentials"),
                    "502": _html("GitHub did not hand over the App"),
                }}},
            "/": {"get": _page("Environments: what runs where, locks and queues")},
            "/history": {"get": _page("The deployment log with durations and failures", params=[
                _query("repo", "owner/name"), _query("env", "an environment's name")],
                missing="no such repository that you can read")},
            "/deployments/{deployment_id}": {"get": _page(
                "One deployment: its steps and logs, live", params=[dep_id],
                missing="no such deployment that you can read")},
            "/deployments/{deployment_id}/events": {"get": {
                "summary": "A deployment's steps and output as server-sent events",
                "tags": ["dashboard"], "parameters": [dep_id],
                "responses": {
                    "200": {"description": "events until the deployment ends; `data` is "
                                           "JSON", "content": {
                        "text/event-stream": {"schema": {
                            "type": "object", "required": ["data"],
                            "properties": {
                                "event": {"type": "string", "enum": [
                                    "reset", "step", "output", "deployment", "end"]},
                                "data": {"type": "string"}}}}}},
                    "401": _text("sign in first"),
                    "404": _text("no such deployment that you can read"),
                }}},
            "/requests/{request_id}": {"get": _page(
                "A request made from the dashboard, until a worker starts it",
                params=[_id("request_id", "a request's id")],
                missing="no such request that you can read")},
            "/actions/rollback": {"post": _form_action(
                "Roll back a deployment (as `/rollback`)",
                {"deployment": {"type": "string", "pattern": "^[0-9]+$",
                                "description": "the id of the deployment to undo"}})},
            "/actions/unlock": {"post": _form_action(
                "Release an environment's lock (as `/unlock`)",
                {"repo": {"type": "string", "description": "owner/name"},
                 "environment": {"type": "string"}})},
            "/login": {"get": {
                "summary": "Sign in", "tags": ["dashboard"],
                "parameters": [_query("next", "a local path to return to")],
                "responses": {"200": _html("the sign-in page"),
                              "303": _redirect("signed in already")}}},
            "/login/token": {"post": {
                "summary": "Sign in with the operator's token", "tags": ["dashboard"],
                "requestBody": {"required": False, "content": {FORM: {"schema": {
                    "type": "object", "properties": {"token": {"type": "string"},
                                                     "next": {"type": "string"}}}}}},
                "responses": {
                    "303": _redirect("signed in"),
                    "401": _html("not this server's token"),
                    "403": _html("the form came from another site"),
                    "404": _html("token sign-in is off"),
                }}},
            "/auth/github": {"get": {
                "summary": "Sign in with GitHub", "tags": ["dashboard"],
                "parameters": [_query("next", "a local path to return to")],
                "responses": {"303": _redirect("to GitHub"),
                              "404": _html("GitHub sign-in is not configured")}}},
            "/auth/callback": {"get": {
                "summary": "GitHub's redirect after signing in", "tags": ["dashboard"],
                "parameters": [_query("code", "GitHub's one-time code"),
                               _query("state", "the state this server issued"),
                               _query("error", "set when the person cancelled")],
                "responses": {"303": _redirect("signed in"),
                              "400": _html("cancelled, expired, or not started here"),
                              "502": _html("GitHub refused the sign-in")}}},
            "/logout": {"post": {
                "summary": "Sign out", "tags": ["dashboard"],
                "requestBody": {"required": False, "content": {FORM: {"schema": {
                    "type": "object", "properties": {"csrf": {"type": "string"}}}}}},
                "responses": {"303": _redirect("signed out (to /login)"),
                              "403": _html("cross-site or stale form")}}},
            "/static/{file}": {"get": {
                "summary": "The dashboard's stylesheet and script", "tags": ["dashboard"],
                "parameters": [{"name": "file", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the file"},
                              "404": _text("no such file")}}},
        },
    }


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(description())
