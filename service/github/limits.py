"""GitHub's size limits: the numbers and the cuts (applied by outgoing.prepare, after
redaction: long text is truncated with a note saying so), and the structural checks the
client makes before sending (4 buttons, a 30-character label raise GitHubUsageError)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.github.errors import GitHubUsageError

OUTPUT_TEXT_MAX = 65_535  # check run output.summary / output.text, characters
ANNOTATIONS_PER_REQUEST = 50
ACTIONS_MAX = 3
ACTION_FIELD_MAX = {"label": 20, "description": 40, "identifier": 20}
ANNOTATION_TEXT_MAX_BYTES = 64 * 1024  # annotation message / raw_details
ANNOTATION_TITLE_MAX = 255
COMMENT_MAX = 65_536  # issue / PR comment and issue body, characters
ISSUE_TITLE_MAX = 256
DEPLOYMENT_STATUS_DESCRIPTION_MAX = 140
ANNOTATION_LEVELS = ("notice", "warning", "failure")


def truncate(text: str, limit: int, *, where: str | None = None) -> str:
    """`text` cut to at most `limit` characters, ending with a note of what was dropped."""
    if len(text) <= limit:
        return text
    pointer = f" The full log is at {where}." if where else " The full log is on the dashboard."
    note = f"\n\n… truncated: {{}} characters omitted.{pointer}"
    # The note's own length depends on the number it prints: size it for the worst case.
    keep = limit - len(note.format(len(text)))
    if keep <= 0:
        return text[:limit]
    return text[:keep] + note.format(len(text) - keep)


def truncate_bytes(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    suffix = "\n… truncated"
    return data[: limit - len(suffix.encode())].decode(errors="ignore") + suffix


def short(text: str, limit: int) -> str:
    """One-line fields (descriptions): cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_actions(actions: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    if len(actions) > ACTIONS_MAX:
        raise GitHubUsageError(f"a check run takes at most {ACTIONS_MAX} actions, "
                               f"got {len(actions)}")
    checked = []
    for action in actions:
        missing = [k for k in ACTION_FIELD_MAX if not action.get(k)]
        if missing:
            raise GitHubUsageError(f"check run action {dict(action)!r} lacks {', '.join(missing)}")
        for name, limit in ACTION_FIELD_MAX.items():
            if len(action[name]) > limit:
                raise GitHubUsageError(
                    f"check run action {name} {action[name]!r} is {len(action[name])} "
                    f"characters; GitHub allows {limit}")
        checked.append({k: action[k] for k in ACTION_FIELD_MAX})
    return checked


def _annotation(item: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("path", "start_line", "end_line", "annotation_level", "message")
               if item.get(k) in (None, "")]
    if missing:
        raise GitHubUsageError(f"annotation lacks {', '.join(missing)}: {dict(item)!r}")
    if item["annotation_level"] not in ANNOTATION_LEVELS:
        raise GitHubUsageError(f"annotation_level must be one of {ANNOTATION_LEVELS}, "
                               f"got {item['annotation_level']!r}")
    out = dict(item)
    for key in ("message", "raw_details", "title"):  # cut later, after redaction
        if key in out:
            out[key] = str(out[key])
    return out


def split_output(output: Mapping[str, Any] | None
                 ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The output to send first, then one output per further batch of annotations.

    Each further output repeats title and summary (GitHub requires them in every `output`)
    and carries the next ≤ 50 annotations; GitHub appends annotations across requests.
    Long texts are left whole: outgoing.prepare cuts them once they are redacted.
    """
    if output is None:
        return None, []
    if not output.get("title") or "summary" not in output:
        raise GitHubUsageError("a check run output needs a title and a summary")
    first: dict[str, Any] = {k: v for k, v in output.items() if k != "annotations"}
    first["summary"] = str(output["summary"])
    if output.get("text") is not None:
        first["text"] = str(output["text"])
    annotations = [_annotation(a) for a in output.get("annotations") or []]
    batches = [annotations[i:i + ANNOTATIONS_PER_REQUEST]
               for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)]
    if batches:
        first["annotations"] = batches[0]
    rest = [{"title": first["title"], "summary": first["summary"], "annotations": batch}
            for batch in batches[1:]]
    return first, rest
