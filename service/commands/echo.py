"""Text from a comment, shown back in a reply so that none of it renders.

Whatever a commenter wrote (an unknown word, a lock reason, a `--reason`) goes into the
bot's replies as inline code: inside a code span GitHub renders no link, image, @mention,
#reference, emoji or HTML. The fence is longer than any run of backticks in the text, so the
text cannot close it; line breaks become spaces (a code span is one line here) and long text
is cut, so a reply cannot be made into a wall of someone else's words."""

from __future__ import annotations

import re

LIMIT = 100


def code(text: str, limit: int = LIMIT) -> str:
    """`text` as an inline code span that renders as the literal characters."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[:limit - 1] + "…"
    if not flat:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    # A span that starts or ends with a backtick needs a space inside each fence (CommonMark
    # strips exactly one from each side when both are there).
    pad = " " if flat[0] == "`" or flat[-1] == "`" else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
