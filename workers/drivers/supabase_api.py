"""A client for the Supabase Management API calls deploybot makes (supabase_management_api.yml).

Authenticated with a personal access token read from the variable the environment names;
the token is kept out of every message, repr and log line. Rate limits (429) wait for
`retry-after` and server errors are retried a few times; what is left becomes a
SupabaseApiError whose message names the fix. Answers are checked against the description
before they are used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from service.retrying import retry_context
from workers.drivers import supabase_openapi
from workers.drivers.interfaces import FunctionsUnavailable

DEFAULT_API_URL = "https://api.supabase.com"
ATTEMPTS = 4
MAX_RETRY_AFTER_S = 60.0
TIMEOUT_S = 60.0  # a deploy bundles server-side


class SupabaseApiError(FunctionsUnavailable):
    """A call failed; the message says what happened and how to fix it (never the token)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def functions_url_for(ref: str) -> str:
    """A hosted project's base URL; functions answer at `<it>/functions/v1/<slug>`."""
    return f"https://{ref}.supabase.co"


class _Busy(Exception):
    """A 429 or 5xx answer, raised inside the retry loop so that it is retried."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _retry_wait(exc: Exception) -> bool | float:
    """stamina's `on` hook: retry network errors and busy answers; a Retry-After (capped)
    is the wait for that attempt, else stamina's backoff applies."""
    if isinstance(exc, httpx.HTTPError):
        return True
    if not isinstance(exc, _Busy):
        return False
    try:
        return min(max(float(exc.response.headers.get("retry-after", "")), 0.0),
                   MAX_RETRY_AFTER_S)
    except ValueError:
        return True


class ManagementApi:
    def __init__(self, *, ref: str, token: str, token_env: str,
                 base_url: str = DEFAULT_API_URL, environment: str = "") -> None:
        self.ref = ref
        self._token = token
        self.token_env = token_env
        self.base_url = base_url.rstrip("/")
        self.environment = environment

    def __repr__(self) -> str:
        return f"ManagementApi(ref={self.ref!r}, token=<{self.token_env}>)"

    # ------------------------------------------------------------------ errors

    def _redact(self, text: str) -> str:
        return text.replace(self._token, f"[{self.token_env}]") if self._token else text

    def _error(self, response: httpx.Response, doing: str) -> SupabaseApiError:
        status = response.status_code
        said = ""
        try:
            body = response.json()
            if isinstance(body, dict):
                said = str(body.get("message") or body.get("error") or body.get("msg") or "")
        except ValueError:
            said = response.text
        said = self._redact(" ".join(said.split())[:200])
        detail = f" ({status}{': ' + said if said else ''})"
        where = f"environments.{self.environment}" if self.environment else "the environment"
        if status == 401:
            fix = (f"the Supabase Management API refused the access token in {self.token_env}"
                   f" while {doing}{detail}; create a personal access token at "
                   f"https://supabase.com/dashboard/account/tokens and set {self.token_env} "
                   "to it")
        elif status == 403:
            fix = (f"the access token in {self.token_env} may not act on project {self.ref} "
                   f"while {doing}{detail}; use a token of an account that is owner or "
                   "developer of the project")
        elif status == 404:
            fix = (f"Supabase has no project {self.ref!r} for this token while {doing}"
                   f"{detail}; check {where}.supabase_project_ref (the ref in the project's "
                   "dashboard URL) and that the token's account can see the project")
        elif status == 402:
            fix = (f"project {self.ref}'s plan does not allow {doing}{detail}; upgrade the "
                   "plan or do without it")
        elif status == 429:
            fix = (f"the Supabase Management API kept rate-limiting deploybot while {doing}"
                   f"{detail}; wait a minute and deploy again")
        elif status >= 500:
            fix = (f"the Supabase Management API failed while {doing}{detail}; try again, "
                   "and check https://status.supabase.com if it persists")
        else:
            fix = f"the Supabase Management API refused {doing}{detail}"
        return SupabaseApiError(fix, status)

    # ------------------------------------------------------------------ transport

    async def _call(self, method: str, template: str, doing: str, *,
                    slug: str | None = None, params: dict[str, str] | None = None,
                    json_body: Any = None, form: dict[str, str] | None = None,
                    files: Sequence[tuple[str, tuple[str, bytes, str]]] | None = None,
                    ok: tuple[int, ...] = (200,), missing_ok: bool = False
                    ) -> tuple[int, Any]:
        path = template.replace("{ref}", self.ref)
        if slug is not None:
            path = path.replace("{function_slug}", slug)
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
            try:
                async for attempt in retry_context(_retry_wait, attempts=ATTEMPTS, first=2.0,
                                                   cap=MAX_RETRY_AFTER_S):
                    with attempt:
                        response = await client.request(
                            method, self.base_url + path, params=params, headers=headers,
                            json=json_body, data=form,
                            files=list(files) if files is not None else None)
                        if response.status_code == 429 or response.status_code >= 500:
                            raise _Busy(response)
            except httpx.HTTPError as exc:
                raise SupabaseApiError(
                    f"cannot reach the Supabase Management API while {doing} "
                    f"({type(exc).__name__}); check the network and SUPABASE_API_URL, "
                    "then deploy again") from None
            except _Busy as busy:  # still busy after the last attempt
                response = busy.response
        if missing_ok and response.status_code == 404:
            return 404, None
        if response.status_code not in ok:
            raise self._error(response, doing)
        return response.status_code, self._parsed(method, template, response, doing)

    def _parsed(self, method: str, template: str, response: httpx.Response, doing: str) -> Any:
        op = supabase_openapi.operation(method, template)
        schema = op.response_schema(response.status_code)
        if schema is None:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        problems = (supabase_openapi.validate(schema, body, "answer") if body is not None
                    else ["answer: not JSON"])
        if problems:
            raise SupabaseApiError(
                f"the Supabase Management API answered {doing} in an unexpected shape "
                f"({'; '.join(problems[:3])}); deploybot may need an update",
                response.status_code)
        return body

    # ------------------------------------------------------------------ operations

    async def deploy_function(self, slug: str, metadata: dict[str, Any],
                              files: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
        """POST functions/deploy: one `metadata` part (JSON) and a `file` part per source
        file, named by its path; Supabase bundles them."""
        parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
        _, body = await self._call("POST", "/v1/projects/{ref}/functions/deploy",
                                   f"deploying function {slug!r}", params={"slug": slug},
                                   form={"metadata": json.dumps(metadata)}, files=parts,
                                   ok=(201,))
        result: dict[str, Any] = body
        return result

    async def get_function(self, slug: str) -> dict[str, Any] | None:
        """The function's active version, or None when the project has no such function."""
        _, body = await self._call("GET", "/v1/projects/{ref}/functions/{function_slug}",
                                   f"reading function {slug!r}", slug=slug, missing_ok=True)
        return body if isinstance(body, dict) else None

    async def delete_function(self, slug: str) -> None:
        await self._call("DELETE", "/v1/projects/{ref}/functions/{function_slug}",
                         f"deleting function {slug!r}", slug=slug, missing_ok=True)

    async def auth_config(self) -> dict[str, Any]:
        _, body = await self._call("GET", "/v1/projects/{ref}/config/auth",
                                   "reading the auth settings")
        result: dict[str, Any] = body
        return result

    async def update_auth_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        _, body = await self._call("PATCH", "/v1/projects/{ref}/config/auth",
                                   "changing the auth settings", json_body=changes)
        result: dict[str, Any] = body
        return result
