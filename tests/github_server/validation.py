"""Request bodies checked against githubkit's request-body models (the REST description's own
schemas), plus the few limits GitHub enforces that the schemas do not state."""

from __future__ import annotations

from typing import Any

from githubkit_schemas.v2026_03_10.models import (
    AppInstallationsInstallationIdAccessTokensPostBody,
    ReposOwnerRepoCheckRunsCheckRunIdPatchBodyAnyof0,
    ReposOwnerRepoCheckRunsCheckRunIdPatchBodyAnyof1,
    ReposOwnerRepoCheckRunsPostBodyOneof0,
    ReposOwnerRepoCheckRunsPostBodyOneof1,
    ReposOwnerRepoDeploymentsDeploymentIdStatusesPostBody,
    ReposOwnerRepoDeploymentsPostBody,
    ReposOwnerRepoIssuesCommentsCommentIdPatchBody,
    ReposOwnerRepoIssuesCommentsCommentIdReactionsPostBody,
    ReposOwnerRepoIssuesIssueNumberCommentsPostBody,
    ReposOwnerRepoIssuesPostBody,
)
from pydantic import TypeAdapter, ValidationError

JSON = dict[str, Any]
# The REST description's oneOf/anyOf bodies, as githubkit's client validates them.
_CHECK_RUN_CREATE: Any = (ReposOwnerRepoCheckRunsPostBodyOneof0
                          | ReposOwnerRepoCheckRunsPostBodyOneof1)
_CHECK_RUN_UPDATE: Any = (ReposOwnerRepoCheckRunsCheckRunIdPatchBodyAnyof0
                          | ReposOwnerRepoCheckRunsCheckRunIdPatchBodyAnyof1)

# operation → (resource name for GitHub-style errors, adapter)
BODIES: dict[str, tuple[str, TypeAdapter[Any]]] = {
    "access_token": ("InstallationToken",
                     TypeAdapter(AppInstallationsInstallationIdAccessTokensPostBody)),
    "check_run_create": ("CheckRun", TypeAdapter(_CHECK_RUN_CREATE)),
    "check_run_update": ("CheckRun", TypeAdapter(_CHECK_RUN_UPDATE)),
    "deployment_create": ("Deployment", TypeAdapter(ReposOwnerRepoDeploymentsPostBody)),
    "deployment_status_create": ("DeploymentStatus",
                                 TypeAdapter(ReposOwnerRepoDeploymentsDeploymentIdStatusesPostBody)),
    "comment_create": ("IssueComment",
                       TypeAdapter(ReposOwnerRepoIssuesIssueNumberCommentsPostBody)),
    "comment_update": ("IssueComment", TypeAdapter(ReposOwnerRepoIssuesCommentsCommentIdPatchBody)),
    "reaction_create": ("Reaction",
                        TypeAdapter(ReposOwnerRepoIssuesCommentsCommentIdReactionsPostBody)),
    "issue_create": ("Issue", TypeAdapter(ReposOwnerRepoIssuesPostBody)),
}

# Limits GitHub states in prose: (operation, field path, maximum length).
EXTRA_LIMITS: list[tuple[str, tuple[str, ...], int]] = [
    ("deployment_status_create", ("description",), 140),
    ("comment_create", ("body",), 65_536),
    ("comment_update", ("body",), 65_536),
    ("issue_create", ("body",), 65_536),
    ("issue_create", ("title",), 256),
]
# Check-run annotations (each in output.annotations): field → (maximum, counted in bytes?).
ANNOTATION_LIMITS: dict[str, tuple[int, bool]] = {
    "message": (64 * 1024, True), "raw_details": (64 * 1024, True), "title": (255, False)}


_TYPE_TAGS = {"str", "int", "float", "bool", "none", "dict", "list"}


def _field(loc: tuple[Any, ...]) -> str:
    # Union members appear in `loc` as class names or type tags ("literal[...]"): skip them.
    parts = [str(p) for p in loc
             if not (isinstance(p, str) and (p[:1].isupper() or "[" in p or p in _TYPE_TAGS))]
    return ".".join(parts) or "body"


def validate(operation: str, body: Any) -> list[JSON]:
    """GitHub-style error objects; empty when the body is acceptable."""
    resource, adapter = BODIES[operation]
    errors: list[JSON] = []
    try:
        adapter.validate_python(body)
    except ValidationError as exc:
        seen = set()
        for err in exc.errors(include_url=False, include_input=False):
            if "<UNSET>" in err["msg"]:  # githubkit's "field left out" branch of a union
                continue
            key = (_field(err["loc"]), err["msg"])
            if key not in seen:
                seen.add(key)
                errors.append({"resource": resource, "field": key[0], "code": "invalid",
                               "message": f"{key[0]}: {key[1]}"})
    if isinstance(body, dict):
        for op, path, limit in EXTRA_LIMITS:
            if op != operation:
                continue
            value: Any = body
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str) and len(value) > limit:
                name = ".".join(path)
                errors.append({"resource": resource, "field": name, "code": "custom",
                               "message": f"{name} is too long (maximum is {limit} characters)"})
        if operation in ("check_run_create", "check_run_update"):
            errors.extend(_annotation_errors(body))
    return errors


def _annotation_errors(body: JSON) -> list[JSON]:
    output = body.get("output")
    items = output.get("annotations") if isinstance(output, dict) else None
    errors: list[JSON] = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        for key, (limit, in_bytes) in ANNOTATION_LIMITS.items():
            value = item.get(key) if isinstance(item, dict) else None
            if not isinstance(value, str):
                continue
            size = len(value.encode()) if in_bytes else len(value)
            if size > limit:
                unit = "bytes" if in_bytes else "characters"
                name = f"output.annotations[{i}].{key}"
                errors.append({"resource": "CheckRun", "field": name, "code": "custom",
                               "message": f"{name} is too long (maximum is {limit} {unit})"})
    return errors
