"""Sign-in with GitHub through the App's OAuth client: trade the code for a user token, ask
who the person is and which repositories they can read (with what permission).

These are the only GitHub calls the web process makes, and only while someone signs in;
the user token is used for these three requests and then dropped, never stored."""

from __future__ import annotations

from typing import Any

import httpx

from service.dashboard.config import DashboardConfig

API_VERSION = "2022-11-28"
MAX_REPO_PAGES = 10  # 1,000 repositories: more than a person deploys from

# GitHub's `permissions` object of a repository, strongest first, as the command levels.
_LEVEL_KEYS = (("admin", "admin"), ("maintain", "maintain"), ("push", "write"),
               ("triage", "triage"), ("pull", "read"))


class SignInError(RuntimeError):
    """Sign-in failed; the message says why in words a person can act on."""


def level_of(permissions: dict[str, Any] | None) -> str:
    for key, level in _LEVEL_KEYS:
        if (permissions or {}).get(key):
            return level
    return "none"


def authorize_url(config: DashboardConfig, redirect_uri: str, state: str) -> str:
    query = httpx.QueryParams({"client_id": config.client_id, "redirect_uri": redirect_uri,
                               "state": state, "allow_signup": "false"})
    return f"{config.github_web_url.rstrip('/')}/login/oauth/authorize?{query}"


async def sign_in(config: DashboardConfig, code: str, redirect_uri: str
                  ) -> tuple[str, dict[str, str], int]:
    """(login, {repo: level}, GitHub requests made) for the person who authorized `code`."""
    calls = 0
    async with httpx.AsyncClient(timeout=15.0, headers={"User-Agent": "deploybot"}) as http:
        try:
            calls += 1
            answer = await http.post(
                f"{config.github_web_url.rstrip('/')}/login/oauth/access_token",
                data={"client_id": config.client_id, "client_secret": config.client_secret,
                      "code": code, "redirect_uri": redirect_uri},
                headers={"Accept": "application/json"})
            data = answer.json() if answer.status_code == 200 else {}
            token = data.get("access_token") if isinstance(data, dict) else None
            if not token:
                why = data.get("error_description") or data.get("error") if isinstance(
                    data, dict) else None
                raise SignInError("GitHub did not accept the sign-in"
                                  + (f" ({why})" if why else "") + "; try signing in again")
            api = config.github_api_url.rstrip("/")
            headers = {"Authorization": f"Bearer {token}", "X-GitHub-Api-Version": API_VERSION,
                       "Accept": "application/vnd.github+json"}
            calls += 1
            me = await http.get(f"{api}/user", headers=headers)
            if me.status_code != 200 or not isinstance(me.json(), dict):
                raise SignInError(f"GitHub answered {me.status_code} when asked who you are; "
                                  "try signing in again")
            login = str(me.json().get("login") or "")
            repos: dict[str, str] = {}
            url: str | None = f"{api}/user/repos"
            params: dict[str, Any] | None = {"per_page": 100}
            pages = 0
            while url and pages < MAX_REPO_PAGES:
                calls += 1
                pages += 1
                page = await http.get(url, headers=headers, params=params)
                if page.status_code != 200:
                    raise SignInError(f"GitHub answered {page.status_code} when asked for "
                                      "your repositories; try signing in again")
                for repo in page.json():
                    name = repo.get("full_name") if isinstance(repo, dict) else None
                    if isinstance(name, str):
                        repos[name.lower()] = level_of(repo.get("permissions"))
                url = page.links.get("next", {}).get("url")
                params = None  # the link carries the query
        except httpx.HTTPError as exc:
            raise SignInError(f"cannot reach GitHub ({type(exc).__name__}); try again "
                              "in a moment") from None
    if not login:
        raise SignInError("GitHub did not say who you are; try signing in again")
    return login, repos, calls
