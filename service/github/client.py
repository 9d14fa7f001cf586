"""The bot's GitHub client: a GitHub App and its installations, over githubkit.

    app = GitHubApp(app_id, private_key, api_url, redis, redis_prefix)
    gh = app.installation(installation_id)
    pr = await gh.get_pull("octo/backend", 12)

Answers are GitHub's JSON as plain dicts and lists (the bot routes on raw JSON; githubkit's
models are strict about payloads GitHub really sends). `repo` arguments are "owner/name".
Every request names its API version explicitly (`X-GitHub-Api-Version`, default
API_VERSION, the version whose schemas githubkit-schemas has installed).
Errors are GitHubError subclasses (service.github.errors); 5xx, timeouts and rate limits are
retried first (RetryPolicy), and a rate-limit wait longer than `max_wait` raises
GitHubRateLimited so the caller can re-enqueue instead of holding a worker.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from githubkit import GitHub

from service.github import limits
from service.github.auth import AppAuthStrategy, InstallationAuthStrategy, MemCacheStrategy
from service.github.errors import GitHubConflict, GitHubError, GitHubNotFound, GitHubUsageError
from service.github.metrics import CallCounter
from service.github.ratelimit import DEFAULT_POLICY, RateLimitInfo, RetryPolicy
from service.github.requester import Requester, SharedTransport, Sleep
from service.github.tokens import InstallationToken, TokenCache, parse_expires_at
from service.permissions import Permission, known
from service.settings import GitHubAppSettings

API_VERSION = "2026-03-10"
TARBALL_MAX_BYTES = 512 * 1024 * 1024

JSON = dict[str, Any]
ReactionContent = Literal["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]
CheckStatus = Literal["queued", "in_progress", "completed", "waiting", "requested", "pending"]
CheckConclusion = Literal["action_required", "cancelled", "failure", "neutral", "success",
                          "skipped", "stale", "timed_out"]
DeploymentState = Literal["error", "failure", "inactive", "in_progress", "queued", "pending",
                          "success"]


@dataclass(frozen=True)
class DeploymentResult:
    """What POST /repos/{o}/{r}/deployments did.

    created:  201, `deployment` is the new deployment.
    merged:   202, GitHub merged the default branch into the ref instead (auto_merge); no
              deployment was created; `message` is GitHub's.
    conflict: 409, a merge conflict or failing required contexts; `errors` lists them.
    """

    outcome: Literal["created", "merged", "conflict"]
    deployment: JSON | None = None
    message: str = ""
    errors: list[Any] = field(default_factory=list)

    @property
    def id(self) -> int | None:
        return int(self.deployment["id"]) if self.deployment else None


class _GitHub(GitHub[Any]):
    """githubkit's GitHub minus its rate-limit classification, which crashes on an HTTP-date
    `Retry-After` (int() of it); ratelimit.py decides instead, from the raw response."""

    def _check_rate_limit(self, response: Any) -> None:
        return None


def _split(repo: str) -> dict[str, str]:
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise GitHubUsageError(f"repository must be 'owner/name', got {repo!r}")
    return {"owner": owner, "repo": name}


def _iso(value: datetime | str | None) -> str | None:
    """GitHub's timestamp form, YYYY-MM-DDTHH:MM:SSZ (a naive datetime is taken as UTC)."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _drop_none(body: Mapping[str, Any]) -> JSON:
    return {k: v for k, v in body.items() if v is not None}


class GitHubApp:
    """A GitHub App: JWT-authenticated app endpoints, and clients for its installations.

    Installation tokens are cached in Redis under `redis_prefix` and shared by every process;
    each is dropped `token_margin` seconds before its `expires_at`. Close with `aclose()`
    (or `async with`). `sleep` and `clock` are injectable for tests.
    """

    def __init__(self, app_id: str | int, private_key: str, api_url: str,
                 redis: aioredis.Redis, redis_prefix: str = "deploybot:", *,
                 api_version: str = API_VERSION,
                 timeout: float = 30.0, retry: RetryPolicy | None = None,
                 token_margin: float = 300.0, counter: CallCounter | None = None,
                 sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = time.time,
                 user_agent: str = "deploybot") -> None:
        self.app_id = str(app_id)
        self.api_url = api_url.rstrip("/")
        self.api_version = api_version
        self.retry = retry or DEFAULT_POLICY
        self.counter = counter or CallCounter()
        self._timeout = timeout
        self._user_agent = user_agent
        self._sleep = sleep
        self._clock = clock
        self._transport = SharedTransport()
        # Own JWT cache: githubkit's default one is process-wide and keyed by app id only.
        app_gh: GitHub[Any] = self._github(AppAuthStrategy(self.app_id, private_key))
        self._app = self._requester(app_gh)
        self.tokens = TokenCache(redis, redis_prefix, app_id=self.app_id, api_url=self.api_url,
                                 mint=self._mint, margin=token_margin, clock=clock)
        self._installations: dict[int, InstallationClient] = {}

    def _github(self, auth: Any) -> GitHub[Any]:
        return _GitHub(auth, base_url=self.api_url, user_agent=self._user_agent,
                       follow_redirects=True, timeout=self._timeout, http_cache=False,
                       auto_retry=False, rest_api_validate_body=False,
                       async_transport=self._transport, cache_strategy=MemCacheStrategy())

    def _requester(self, github: GitHub[Any]) -> Requester:
        return Requester(github, api_version=self.api_version, policy=self.retry,
                         counter=self.counter, sleep=self._sleep, clock=self._clock)

    @classmethod
    def from_settings(cls, settings: GitHubAppSettings, redis: aioredis.Redis,
                      redis_prefix: str, **options: Any) -> GitHubApp:
        return cls(settings.app_id, settings.private_key, settings.api_url, redis, redis_prefix,
                   **options)

    @property
    def rate_limit(self) -> RateLimitInfo:
        """Rate-limit headers last seen on app (JWT) requests."""
        return self._app.rate_limit

    def installation(self, installation_id: int) -> InstallationClient:
        client = self._installations.get(installation_id)
        if client is None:
            gh = self._github(InstallationAuthStrategy(self.tokens, installation_id))
            client = InstallationClient(installation_id, self._requester(gh))
            self._installations[installation_id] = client
        return client

    async def _mint(self, installation_id: int) -> InstallationToken:
        data = await self._app.json("POST", "/app/installations/{installation_id}/access_tokens",
                                    {"installation_id": installation_id}, json={},
                                    repeatable=True)  # another token is no harm
        return InstallationToken(token=str(data["token"]),
                                 expires_at=parse_expires_at(str(data["expires_at"])))

    async def get_app(self) -> JSON:
        """GET /app: the App itself (its `slug` names the bot user `<slug>[bot]`)."""
        data: JSON = await self._app.json("GET", "/app")
        return data

    async def list_hook_deliveries(self, *, cursor: str | None = None, per_page: int = 100
                                   ) -> tuple[list[JSON], str | None]:
        """One page of GET /app/hook/deliveries (newest first) and the cursor of the next
        page (None on the last)."""
        params: dict[str, Any] = {"per_page": per_page}
        if cursor:
            params["cursor"] = cursor
        response = await self._app.request("GET", "/app/hook/deliveries", params=params)
        next_url = response.links.get("next", {}).get("url")
        next_cursor: str | None = None
        if next_url:
            cursors = parse_qs(urlsplit(next_url).query).get("cursor")
            next_cursor = cursors[0] if cursors else None
        return list(response.json()), next_cursor

    async def iter_hook_deliveries(self, *, per_page: int = 100) -> AsyncIterator[JSON]:
        """Every delivery GitHub still has, newest first; stop iterating to stop paging."""
        cursor: str | None = None
        while True:
            page, cursor = await self.list_hook_deliveries(cursor=cursor, per_page=per_page)
            for delivery in page:
                yield delivery
            if not cursor or not page:
                return

    async def get_hook_delivery(self, delivery_id: int) -> JSON:
        data: JSON = await self._app.json("GET", "/app/hook/deliveries/{delivery_id}",
                                          {"delivery_id": delivery_id})
        return data

    async def redeliver(self, delivery_id: int) -> None:
        """POST /app/hook/deliveries/{id}/attempts: GitHub sends the delivery again (same
        X-GitHub-Delivery GUID)."""
        await self._app.request("POST", "/app/hook/deliveries/{delivery_id}/attempts",
                                {"delivery_id": delivery_id},
                                repeatable=True)  # deliveries are deduplicated on arrival

    async def aclose(self) -> None:
        await self._transport.aclose_pool()

    async def __aenter__(self) -> GitHubApp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class InstallationClient:
    """Calls as one installation of the App (installation token auth)."""

    def __init__(self, installation_id: int, requester: Requester) -> None:
        self.installation_id = installation_id
        self._r = requester

    @property
    def rate_limit(self) -> RateLimitInfo:
        """Last seen `x-ratelimit-*` of this installation (`.remaining` for metrics)."""
        return self._r.rate_limit

    # -- repository, pull requests, permissions ------------------------------------------

    async def get_repo(self, repo: str) -> JSON:
        data: JSON = await self._r.json("GET", "/repos/{owner}/{repo}", _split(repo))
        return data

    async def get_pull(self, repo: str, number: int) -> JSON:
        data: JSON = await self._r.json("GET", "/repos/{owner}/{repo}/pulls/{pull_number}",
                                        {**_split(repo), "pull_number": number})
        return data

    async def get_commit(self, repo: str, ref: str) -> JSON:
        """GET …/commits/{ref}: `commit.committer.date`, `parents`, … of a SHA or branch."""
        data: JSON = await self._r.json("GET", "/repos/{owner}/{repo}/commits/{ref}",
                                        {**_split(repo), "ref": ref})
        return data

    async def list_timeline(self, repo: str, number: int) -> list[JSON]:
        """GET …/issues/{n}/timeline, oldest first: for a pull request its `committed`
        events (the commits it holds now) and `head_ref_force_pushed` events (GitHub's time
        of each force push), among others."""
        return await self._r.paginate("/repos/{owner}/{repo}/issues/{issue_number}/timeline",
                                      {**_split(repo), "issue_number": number})

    async def list_pull_reviews(self, repo: str, number: int) -> list[JSON]:
        return await self._r.paginate("/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
                                      {**_split(repo), "pull_number": number})

    async def get_collaborator_permission(self, repo: str, username: str) -> Permission:
        """The user's role on the repository: admin, maintain, write, triage, read or none.

        `role_name` is used when it is one of those (it tells maintain from write and triage
        from read); a custom role falls back to its base `permission`. An unknown user is
        "none".
        """
        try:
            data = await self._r.json("GET",
                                      "/repos/{owner}/{repo}/collaborators/{username}/permission",
                                      {**_split(repo), "username": username})
        except GitHubNotFound:
            return "none"
        for key in ("role_name", "permission"):
            if (level := known(data.get(key))) is not None:
                return level
        return "none"

    # -- commit statuses and checks --------------------------------------------------------

    async def get_combined_status(self, repo: str, ref: str) -> JSON:
        """GET …/commits/{ref}/status with every page of `statuses` merged into the first."""
        path = {**_split(repo), "ref": ref}
        route = "/repos/{owner}/{repo}/commits/{ref}/status"
        response = await self._r.request("GET", route, path, params={"per_page": 100})
        combined: JSON = response.json()
        next_url = response.links.get("next", {}).get("url")
        while next_url:
            response = await self._r.request("GET", route, path, url=next_url)
            page = response.json().get("statuses", [])
            combined["statuses"].extend(page)
            next_url = response.links.get("next", {}).get("url") if page else None
        return combined

    async def list_check_runs_for_ref(self, repo: str, ref: str, *,
                                      check_name: str | None = None,
                                      filter: Literal["latest", "all"] = "latest"
                                      ) -> list[JSON]:
        params = _drop_none({"check_name": check_name, "filter": filter})
        return await self._r.paginate("/repos/{owner}/{repo}/commits/{ref}/check-runs",
                                      {**_split(repo), "ref": ref}, params=params,
                                      key="check_runs")

    async def get_check_run(self, repo: str, check_run_id: int) -> JSON:
        data: JSON = await self._r.json("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}",
                                        {**_split(repo), "check_run_id": check_run_id})
        return data

    async def create_check_run(self, repo: str, *, name: str, head_sha: str,
                               status: CheckStatus = "queued",
                               conclusion: CheckConclusion | None = None,
                               output: Mapping[str, Any] | None = None,
                               actions: Sequence[Mapping[str, str]] | None = None,
                               details_url: str | None = None, external_id: str | None = None,
                               started_at: datetime | str | None = None,
                               completed_at: datetime | str | None = None) -> JSON:
        """POST …/check-runs. `output` is {title, summary, text?, annotations?}: summary and
        text over 65 535 characters are truncated (once redacted) with a note pointing at
        `details_url`; annotations beyond the first 50 are sent by further PATCHes of 50.
        Returns the check run after the last request.
        """
        first, rest = limits.split_output(output)
        if conclusion is not None:
            status = "completed"  # GitHub's rule; its body schema insists on the pair
        body = _drop_none({
            "name": name, "head_sha": head_sha, "status": status, "conclusion": conclusion,
            "details_url": details_url, "external_id": external_id,
            "started_at": _iso(started_at), "completed_at": _iso(completed_at),
            "output": first,
            "actions": limits.check_actions(actions) if actions is not None else None,
        })
        path = _split(repo)

        async def find(sent: JSON) -> JSON | None:
            if external_id is None:
                return None  # nothing to recognise it by: send again
            return await self.find_check_run(repo, head_sha, name=name, external_id=external_id)

        run: JSON = await self._r.create("/repos/{owner}/{repo}/check-runs", path, json=body,
                                         find=find, link=details_url)
        return await self._more_annotations(path, int(run["id"]), rest, run, details_url)

    async def find_check_run(self, repo: str, head_sha: str, *, name: str,
                             external_id: str) -> JSON | None:
        """The check run `name` on `head_sha` that carries `external_id`, if GitHub has one."""
        runs = await self.list_check_runs_for_ref(repo, head_sha, check_name=name, filter="all")
        return next((r for r in runs if r.get("external_id") == external_id), None)

    async def update_check_run(self, repo: str, check_run_id: int, *,
                               name: str | None = None, status: CheckStatus | None = None,
                               conclusion: CheckConclusion | None = None,
                               output: Mapping[str, Any] | None = None,
                               actions: Sequence[Mapping[str, str]] | None = None,
                               details_url: str | None = None, external_id: str | None = None,
                               started_at: datetime | str | None = None,
                               completed_at: datetime | str | None = None) -> JSON:
        """PATCH …/check-runs/{id}; same output limits as create_check_run. Fields left None
        are not sent (GitHub keeps them)."""
        first, rest = limits.split_output(output)
        body = _drop_none({
            "name": name, "status": status, "conclusion": conclusion,
            "details_url": details_url, "external_id": external_id,
            "started_at": _iso(started_at), "completed_at": _iso(completed_at),
            "output": first,
            "actions": limits.check_actions(actions) if actions is not None else None,
        })
        path = {**_split(repo), "check_run_id": check_run_id}
        run: JSON = await self._r.json("PATCH",
                                       "/repos/{owner}/{repo}/check-runs/{check_run_id}",
                                       path, json=body, link=details_url)
        return await self._more_annotations(_split(repo), check_run_id, rest, run, details_url)

    async def _more_annotations(self, path: dict[str, str], check_run_id: int,
                                outputs: list[JSON], run: JSON, link: str | None) -> JSON:
        for output in outputs:
            run = await self._r.json("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}",
                                     {**path, "check_run_id": check_run_id},
                                     json={"output": output}, link=link)
        return run

    # -- contents ----------------------------------------------------------------------------

    async def get_file_content(self, repo: str, path: str, ref: str | None = None
                               ) -> str | None:
        """A text file at `ref` (the default branch when None), or None when it is absent."""
        route = "/repos/{owner}/{repo}/contents/{path}"
        params = {"ref": ref} if ref else None
        where = {**_split(repo), "path": path.lstrip("/")}
        try:
            data = await self._r.json("GET", route, where, params=params)
        except GitHubNotFound:
            return None
        if not isinstance(data, dict) or data.get("type") != "file":
            kind = "directory" if isinstance(data, list) else data.get("type", "unknown")
            raise GitHubError("GET", route, 200, f"{path} is a {kind}, not a file")
        if data.get("encoding") == "base64" and (data.get("content") or not data.get("size")):
            raw = base64.b64decode(data.get("content") or "")
        else:  # over 1 MB GitHub sends no content in JSON: ask for the raw file
            response = await self._r.request("GET", route, where, params=params,
                                             accept="application/vnd.github.raw+json")
            raw = response.content
        return raw.decode("utf-8")

    async def download_tarball(self, repo: str, ref: str, *,
                               max_bytes: int = TARBALL_MAX_BYTES) -> bytes:
        """The gzipped tarball of `ref` (GitHub redirects to codeload; followed). Its members
        sit under one top-level directory `<owner>-<repo>-<sha7>/`."""
        response = await self._r.request("GET", "/repos/{owner}/{repo}/tarball/{ref}",
                                          {**_split(repo), "ref": ref})
        if len(response.content) > max_bytes:
            raise GitHubError("GET", "/repos/{owner}/{repo}/tarball/{ref}", response.status_code,
                              f"tarball of {ref} is {len(response.content)} bytes, over the "
                              f"{max_bytes} byte limit")
        return response.content

    # -- comments, reactions, issues ------------------------------------------------------

    async def add_reaction_to_comment(self, repo: str, comment_id: int,
                                      content: ReactionContent) -> JSON:
        data: JSON = await self._r.json(
            "POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            {**_split(repo), "comment_id": comment_id}, json={"content": content},
            repeatable=True)  # GitHub answers the same reaction twice with the first one
        return data

    async def delete_reaction_from_comment(self, repo: str, comment_id: int,
                                           reaction_id: int) -> None:
        await self._r.request(
            "DELETE",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions/{reaction_id}",
            {**_split(repo), "comment_id": comment_id, "reaction_id": reaction_id},
            repeatable=True)

    async def create_comment(self, repo: str, issue_number: int, body: str, *,
                             log_url: str | None = None) -> JSON:
        """A comment on an issue or pull request; a body over 65 536 characters (once
        redacted) is truncated with a note naming `log_url` (callers should fold long output
        into <details> themselves)."""

        async def find(sent: JSON) -> JSON | None:  # the same text is the same comment
            comments = await self.list_comments(repo, issue_number)
            return next((c for c in reversed(comments) if c.get("body") == sent["body"]),
                        None)

        data: JSON = await self._r.create(
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            {**_split(repo), "issue_number": issue_number}, json={"body": body}, find=find,
            link=log_url)
        return data

    async def update_comment(self, repo: str, comment_id: int, body: str, *,
                             log_url: str | None = None) -> JSON:
        data: JSON = await self._r.json(
            "PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            {**_split(repo), "comment_id": comment_id}, json={"body": body}, link=log_url)
        return data

    async def list_comments(self, repo: str, issue_number: int) -> list[JSON]:
        return await self._r.paginate("/repos/{owner}/{repo}/issues/{issue_number}/comments",
                                      {**_split(repo), "issue_number": issue_number})

    async def create_issue(self, repo: str, *, title: str, body: str = "",
                           labels: Sequence[str] = (), assignees: Sequence[str] = (),
                           log_url: str | None = None) -> JSON:
        """An issue; title and body are redacted and cut to GitHub's limits on the way out
        (a cut body names `log_url`)."""
        payload: JSON = {"title": title, "body": body}
        if labels:
            payload["labels"] = list(labels)
        if assignees:
            payload["assignees"] = list(assignees)

        async def find(sent: JSON) -> JSON | None:  # the same title and text is the same issue
            return await self.find_issue(repo, title=sent["title"], body=sent["body"],
                                         labels=labels)

        data: JSON = await self._r.create("/repos/{owner}/{repo}/issues", _split(repo),
                                          json=payload, find=find, link=log_url)
        return data

    async def find_issue(self, repo: str, *, title: str | None = None,
                         body: str | None = None, marker: str | None = None,
                         labels: Sequence[str] = ()) -> JSON | None:
        """The newest of the last 30 issues (open or closed) with this title, this body and
        this hidden marker in its body — whichever of the three are given."""
        params = _drop_none({"state": "all", "sort": "created", "direction": "desc",
                             "labels": ",".join(labels) if labels else None})
        issues = await self._r.paginate("/repos/{owner}/{repo}/issues", _split(repo),
                                        params=params, limit=30)
        return next((i for i in issues
                     if (title is None or i.get("title") == title)
                     and (body is None or i.get("body") == body)
                     and (marker is None or marker in (i.get("body") or ""))), None)

    # -- deployments -------------------------------------------------------------------------

    async def create_deployment(self, repo: str, *, ref: str, environment: str,
                                required_contexts: Sequence[str] | None = (),
                                auto_merge: bool = False,
                                production_environment: bool | None = None,
                                transient_environment: bool | None = None,
                                payload: Mapping[str, Any] | None = None,
                                description: str | None = None,
                                task: str = "deploy") -> DeploymentResult:
        """POST …/deployments. Defaults suit the bot: deploy exactly `ref` (no auto-merge) and
        require no contexts (the bot's gates check statuses themselves); pass
        `required_contexts=None` to let GitHub require every context to be green."""
        body = _drop_none({
            "ref": ref, "environment": environment, "task": task, "auto_merge": auto_merge,
            "required_contexts": list(required_contexts) if required_contexts is not None
            else None,
            "production_environment": production_environment,
            "transient_environment": transient_environment,
            "payload": dict(payload) if payload is not None else None,
            "description": description,
        })
        route = "/repos/{owner}/{repo}/deployments"

        async def find(sent: JSON) -> JSON | None:
            if payload is None:
                return None  # nothing to recognise it by: send again
            return await self.find_deployment(repo, ref=ref, environment=environment,
                                              payload=payload)

        try:
            data = await self._r.create(route, _split(repo), json=body, find=find)
        except GitHubConflict as exc:
            return DeploymentResult("conflict", message=exc.message, errors=exc.errors)
        if "id" not in data:  # 202: GitHub merged the default branch into the ref instead
            return DeploymentResult("merged", message=str(data.get("message", "")))
        return DeploymentResult("created", deployment=data)

    async def find_deployment(self, repo: str, *, ref: str, environment: str,
                              payload: Mapping[str, Any]) -> JSON | None:
        """The newest deployment of `ref` to `environment` carrying `payload`, if any."""
        for d in await self.list_deployments(repo, environment=environment, ref=ref, limit=30):
            if (d.get("payload") or {}) == dict(payload):
                return d
        return None

    async def create_deployment_status(self, repo: str, deployment_id: int, *,
                                       state: DeploymentState, log_url: str | None = None,
                                       environment_url: str | None = None,
                                       auto_inactive: bool | None = None,
                                       description: str | None = None,
                                       environment: str | None = None) -> JSON:
        """POST …/deployments/{id}/statuses; `description` is cut to 140 characters (once
        redacted)."""
        body = _drop_none({
            "state": state, "log_url": log_url, "environment_url": environment_url,
            "auto_inactive": auto_inactive, "environment": environment,
            "description": description,
        })
        data: JSON = await self._r.json(
            "POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
            {**_split(repo), "deployment_id": deployment_id}, json=body,
            repeatable=True)  # the same state twice changes nothing
        return data

    async def list_deployments(self, repo: str, *, environment: str | None = None,
                               ref: str | None = None, sha: str | None = None,
                               limit: int | None = 100) -> list[JSON]:
        """Deployments, newest first (at most `limit`; None for all)."""
        params = _drop_none({"environment": environment, "ref": ref, "sha": sha})
        return await self._r.paginate("/repos/{owner}/{repo}/deployments", _split(repo),
                                      params=params, limit=limit)

    async def list_deployment_statuses(self, repo: str, deployment_id: int) -> list[JSON]:
        return await self._r.paginate(
            "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
            {**_split(repo), "deployment_id": deployment_id})

