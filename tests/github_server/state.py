"""Everything the test GitHub server knows and records. Tests set it up and read it back:

    repo = server.state.add_repo("octo/backend", git=fixture_repo)
    server.state.set_permission("octo/backend", "alice", "maintain")
    pr = server.state.add_pull("octo/backend", 7, head_sha=sha, user="alice")
    comment = server.state.add_comment("octo/backend", 7, "/deploy staging", user="alice")
    ...
    server.state.repo("octo/backend").check_runs   # what the bot did

Handlers run on the server's thread, tests on theirs: mutations take `lock`.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
DEFAULT_INSTALLATION = 1
BOT_LOGIN = "deploybot[bot]"
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_COMMIT_DATE = "2020-01-01T00:00:00Z"  # unknown SHAs of git-less repos: long ago
LEGACY_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read",
                     "read": "read", "none": "none"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str) -> JSON:
    kind = "Bot" if login.endswith("[bot]") else "User"
    return {"login": login, "id": zlib.crc32(login.encode()) % 10_000_000, "type": kind,
            "node_id": f"U_{login}", "html_url": f"https://github.com/{login}"}


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int  # 0: the client went away before an answer (a delay fault)
    api_version: str | None
    auth: str | None  # "jwt", "token" or None
    fault: str | None
    body: Any
    at: float


@dataclass
class ValidationFailure:
    method: str
    path: str
    errors: list[JSON]


@dataclass
class TokenRecord:
    token: str = field(repr=False)
    installation_id: int
    expires_at: float
    revoked: bool = False


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    installation_id: int
    default_branch: str = "main"
    git_dir: Path | None = None
    private: bool = True
    refs: dict[str, str] = field(default_factory=dict)  # branch → sha, for repos without git
    commits: dict[str, JSON] = field(default_factory=dict)  # sha → commit (repos without git)
    pulls: dict[int, JSON] = field(default_factory=dict)
    reviews: dict[int, list[JSON]] = field(default_factory=dict)
    timeline: dict[int, list[JSON]] = field(default_factory=dict)  # recorded events (not commits)
    permissions: dict[str, JSON] = field(default_factory=dict)  # login → permission answer
    statuses: dict[str, list[JSON]] = field(default_factory=dict)  # sha → statuses, oldest first
    check_runs: dict[int, JSON] = field(default_factory=dict)
    check_run_requests: dict[int, list[JSON]] = field(default_factory=dict)  # bodies, in order
    annotations: dict[int, list[JSON]] = field(default_factory=dict)
    comments: dict[int, JSON] = field(default_factory=dict)
    reactions: dict[int, list[JSON]] = field(default_factory=dict)  # comment id → reactions
    issues: dict[int, JSON] = field(default_factory=dict)
    deployments: dict[int, JSON] = field(default_factory=dict)
    deployment_statuses: dict[int, list[JSON]] = field(default_factory=dict)
    deployment_outcomes: deque[str] = field(default_factory=deque)  # "merged" / "conflict"
    tarballs: dict[str, bytes] = field(default_factory=dict)  # sha → archive served as is
    next_number: int = 1  # issues and pull requests share numbers

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def json(self, base_url: str) -> JSON:
        return {
            "id": self.id, "node_id": f"R_{self.id}", "name": self.name,
            "full_name": self.full_name, "private": self.private, "fork": False,
            "owner": user(self.owner), "default_branch": self.default_branch,
            "html_url": f"https://github.com/{self.full_name}",
            "url": f"{base_url}/repos/{self.full_name}",
            "clone_url": f"https://github.com/{self.full_name}.git",
        }

    def comments_on(self, issue_number: int) -> list[JSON]:
        return [c for c in self.comments.values() if c["_issue_number"] == issue_number]


class ServerState:
    def __init__(self, app_id: int, base_url: str = "") -> None:
        self.app_id = app_id
        self.app_slug = "deploybot"
        self.base_url = base_url
        self.lock = threading.RLock()
        self._ids = itertools.count(1001)
        self.clock_offset = 0.0
        self.installations: set[int] = {DEFAULT_INSTALLATION}
        self.repos: dict[str, Repo] = {}
        self.token_ttl = 3600.0
        self.token_length = 72  # longer than today's 40: the client must not assume a length
        self.tokens: dict[str, TokenRecord] = {}
        self.tokens_minted: list[TokenRecord] = []
        self.rate_limit = 5000
        self.rate_used: dict[int, int] = {}  # installation → requests this hour
        self.requests: list[RequestRecord] = []
        self.validation_errors: list[ValidationFailure] = []
        self.deliveries: list[JSON] = []  # newest last; each keeps its request for redelivery
        self.redelivery_attempts: list[int] = []
        self.webhook_target: tuple[str, str] | None = None  # (url, secret) for redeliveries

    # -- time and tokens -------------------------------------------------------------------

    def now(self) -> float:
        """The server's clock (installation tokens only; JWTs are checked on real time)."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        self.clock_offset += seconds

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def expire_tokens(self) -> None:
        """Every installation token issued so far stops working (GitHub answers 401)."""
        with self.lock:
            for record in self.tokens.values():
                record.revoked = True

    def token_record(self, token: str) -> TokenRecord | None:
        record = self.tokens.get(token)
        if record is None or record.revoked or record.expires_at <= self.now():
            return None
        return record

    # -- repositories ----------------------------------------------------------------------

    def add_repo(self, full_name: str, *, git: Any = None, default_branch: str = "main",
                 installation_id: int = DEFAULT_INSTALLATION, private: bool = True,
                 refs: dict[str, str] | None = None) -> Repo:
        """A repository the App is installed on. `git` is a fixture repository (anything with
        a `path`) or a directory: tarballs and contents come from it."""
        owner, _, name = full_name.partition("/")
        git_dir = Path(getattr(git, "path", git)) if git is not None else None
        with self.lock:
            repo = Repo(owner, name, self.next_id(), installation_id, default_branch, git_dir,
                        private, dict(refs or {}))
            self.repos[full_name.lower()] = repo
            self.installations.add(installation_id)
        return repo

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name.lower()]

    def find_repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def set_permission(self, full_name: str, login: str, role: str, *,
                       permission: str | None = None) -> None:
        """`role` as GitHub's `role_name` (admin, maintain, write, triage, read, none or a
        custom role's name); `permission` defaults to the legacy value GitHub derives."""
        legacy = permission or LEGACY_PERMISSION.get(role, "read")
        with self.lock:
            self.repo(full_name).permissions[login.lower()] = {
                "permission": legacy, "role_name": role, "user": user(login)}

    def add_pull(self, full_name: str, number: int | None = None, *, head_sha: str,
                 head_ref: str = "feature", base_ref: str = "main", base_sha: str | None = None,
                 user_login: str = "octocat", head_repo: str | None = None,
                 mergeable: bool | None = True, state: str = "open", draft: bool = False,
                 merged: bool = False, title: str = "A change") -> JSON:
        """A pull request; `head_repo` names the fork it comes from (default: this repo)."""
        repo = self.repo(full_name)
        with self.lock:
            if number is None:
                number = repo.next_number
            repo.next_number = max(repo.next_number, number + 1)
            head_full = head_repo or repo.full_name
            head_owner, _, head_name = head_full.partition("/")
            head_repo_json = {**repo.json(self.base_url), "full_name": head_full,
                              "name": head_name, "owner": user(head_owner),
                              "fork": head_full.lower() != repo.full_name.lower()}
            if head_repo_json["fork"]:
                head_repo_json["id"] = self.next_id()
            pr = {
                "id": self.next_id(), "number": number, "state": state, "title": title,
                "user": user(user_login), "draft": draft, "merged": merged,
                "mergeable": mergeable, "locked": False,
                "created_at": iso(self.now()), "updated_at": iso(self.now()),
                "html_url": f"https://github.com/{repo.full_name}/pull/{number}",
                "head": {"ref": head_ref, "sha": head_sha, "label": f"{head_owner}:{head_ref}",
                         "repo": head_repo_json, "user": user(head_owner)},
                "base": {"ref": base_ref, "sha": base_sha or repo.refs.get(base_ref, ""),
                         "label": f"{repo.owner}:{base_ref}", "repo": repo.json(self.base_url),
                         "user": user(repo.owner)},
            }
            repo.pulls[number] = pr
        return pr

    def set_commit(self, full_name: str, sha: str, *, date: str = "2020-01-01T00:00:00Z",
                   message: str = "change", parents: list[str] | None = None) -> None:
        """Commit metadata for a repository without git behind it (GET …/commits/{sha});
        an unknown full SHA there reads as a commit dated `DEFAULT_COMMIT_DATE`."""
        with self.lock:
            self.repo(full_name).commits[sha] = {
                "sha": sha, "tree": "0" * 40, "parents": parents or [],
                "author": {"name": "Test Author", "email": "author@example.com", "date": date},
                "committer": {"name": "Test Author", "email": "author@example.com",
                              "date": date},
                "message": message}

    def set_tarball(self, full_name: str, sha: str, data: bytes) -> None:
        """Serve `data` as the tarball of commit `sha` (a full SHA) instead of `git archive`:
        what a hostile or broken archive does to the bot."""
        with self.lock:
            self.repo(full_name).tarballs[sha] = data

    def set_pull_head(self, full_name: str, number: int, sha: str) -> None:
        """A push to the pull request's branch (GitHub then sends `synchronize`; tests that
        want the bot to hear of it deliver that themselves)."""
        with self.lock:
            pull = self.repo(full_name).pulls[number]
            pull["head"]["sha"] = sha
            pull["updated_at"] = iso(self.now())

    def force_push(self, full_name: str, number: int, sha: str, *,
                   actor: str = "octocat") -> JSON:
        """A force push to the pull request's branch: the head moves and the timeline gets a
        `head_ref_force_pushed` event at the server's time, naming the new head."""
        repo = self.repo(full_name)
        self.set_pull_head(full_name, number, sha)
        with self.lock:
            event_id = self.next_id()
            event = {
                "id": event_id, "node_id": f"HRFPE_{event_id}",
                "url": f"{self.base_url}/repos/{repo.full_name}/issues/events/{event_id}",
                "actor": user(actor), "event": "head_ref_force_pushed", "commit_id": sha,
                "commit_url": f"{self.base_url}/repos/{repo.full_name}/commits/{sha}",
                "created_at": iso(self.now()), "performed_via_github_app": None}
            repo.timeline.setdefault(number, []).append(event)
        return event

    def add_review(self, full_name: str, number: int, *, user_login: str,
                   state: str = "APPROVED", commit_id: str | None = None) -> JSON:
        repo = self.repo(full_name)
        with self.lock:
            review = {"id": self.next_id(), "user": user(user_login), "state": state,
                      "commit_id": commit_id or repo.pulls[number]["head"]["sha"],
                      "submitted_at": iso(self.now()), "body": ""}
            repo.reviews.setdefault(number, []).append(review)
        return review

    def add_status(self, full_name: str, sha: str, context: str, state: str = "success",
                   description: str = "") -> JSON:
        """A commit status from CI (state: error, failure, pending, success)."""
        repo = self.repo(full_name)
        with self.lock:
            status = {"id": self.next_id(), "context": context, "state": state,
                      "description": description, "target_url": None,
                      "created_at": iso(self.now()), "updated_at": iso(self.now())}
            repo.statuses.setdefault(sha, []).append(status)
        return status

    def add_check_run(self, full_name: str, head_sha: str, name: str, *,
                      status: str = "completed", conclusion: str | None = "success",
                      app_slug: str = "github-actions") -> JSON:
        """A check run from another App (CI)."""
        repo = self.repo(full_name)
        with self.lock:
            run = self.new_check_run(repo, {"name": name, "head_sha": head_sha,
                                            "status": status, "conclusion": conclusion})
            run["app"] = {"id": 15368, "slug": app_slug, "name": app_slug}
        return run

    def new_check_run(self, repo: Repo, body: JSON) -> JSON:
        run_id = self.next_id()
        now = iso(self.now())
        conclusion = body.get("conclusion")
        status = "completed" if conclusion else body.get("status") or "queued"
        run = {
            "id": run_id, "node_id": f"CR_{run_id}", "name": body["name"],
            "head_sha": body["head_sha"], "status": status, "conclusion": conclusion,
            "external_id": body.get("external_id"), "details_url": body.get("details_url"),
            "started_at": body.get("started_at") or now,
            "completed_at": body.get("completed_at") or (now if status == "completed" else None),
            "output": {"title": None, "summary": None, "text": None, "annotations_count": 0,
                       "annotations_url": f"{self.base_url}/repos/{repo.full_name}/check-runs/"
                                          f"{run_id}/annotations"},
            "actions": [],
            "app": {"id": self.app_id, "slug": self.app_slug, "name": self.app_slug},
            "html_url": f"https://github.com/{repo.full_name}/runs/{run_id}",
            "url": f"{self.base_url}/repos/{repo.full_name}/check-runs/{run_id}",
            "pull_requests": [],
        }
        repo.check_runs[run_id] = run
        repo.annotations[run_id] = []
        repo.check_run_requests[run_id] = []
        return run

    def add_comment(self, full_name: str, issue_number: int, body: str, *,
                    user_login: str = "octocat") -> JSON:
        """A comment someone wrote (e.g. "/deploy staging")."""
        return self.new_comment(self.repo(full_name), issue_number, body, user_login)

    def new_comment(self, repo: Repo, issue_number: int, body: str, login: str) -> JSON:
        with self.lock:
            comment_id = self.next_id()
            now = iso(self.now())
            comment = {
                "id": comment_id, "node_id": f"IC_{comment_id}", "body": body,
                "user": user(login), "created_at": now, "updated_at": now,
                "html_url": f"https://github.com/{repo.full_name}/issues/{issue_number}"
                            f"#issuecomment-{comment_id}",
                "issue_url": f"{self.base_url}/repos/{repo.full_name}/issues/{issue_number}",
                "author_association": "MEMBER", "_issue_number": issue_number,
            }
            repo.comments[comment_id] = comment
        return comment

    def queue_deployment_outcome(self, full_name: str, outcome: str) -> None:
        """The next POST …/deployments answers 202 ("merged") or 409 ("conflict")."""
        if outcome not in ("merged", "conflict"):
            raise ValueError("outcome is 'merged' or 'conflict'")
        with self.lock:
            self.repo(full_name).deployment_outcomes.append(outcome)

    # -- deliveries ----------------------------------------------------------------------

    def add_delivery(self, *, event: str, action: str | None = None,
                     status_code: int = 200, guid: str | None = None,
                     payload: JSON | None = None, headers: dict[str, str] | None = None,
                     redelivery: bool = False, installation_id: int = DEFAULT_INSTALLATION
                     ) -> JSON:
        with self.lock:
            delivery = {
                "id": self.next_id(), "guid": guid or str(uuid.uuid4()),
                "delivered_at": iso(self.now()), "redelivery": redelivery, "duration": 0.05,
                "status": "OK" if 200 <= status_code < 300 else
                          f"Invalid HTTP Response: {status_code}",
                "status_code": status_code, "event": event, "action": action,
                "installation_id": installation_id, "repository_id": None,
                "throttled_at": None,
                "_request": {"headers": headers or {}, "payload": payload or {}},
            }
            self.deliveries.append(delivery)
        return delivery

    # -- what happened ---------------------------------------------------------------------

    def record(self, entry: RequestRecord) -> None:
        with self.lock:
            self.requests.append(entry)


def public(resource: JSON) -> JSON:
    """A stored resource without its private bookkeeping keys (those starting with "_")."""
    return {k: v for k, v in resource.items() if not k.startswith("_")}
