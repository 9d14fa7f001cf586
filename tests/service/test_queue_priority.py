"""What may start, stop or undo a deployment goes ahead of chatter already queued: a merge, a
/deploy and a deployment whose turn has come do not wait behind a burst of webhooks."""

from __future__ import annotations

from service import queue
from service.webhooks.interest import is_urgent
from tests.conftest import REDIS_URL


def test_deploying_commands_and_merges_are_urgent_chatter_is_not() -> None:
    assert is_urgent("issue_comment", "/deploy staging")
    assert is_urgent("issue_comment", "/rollback production")
    assert is_urgent("issue_comment", "/cancel")
    assert is_urgent("pull_request", None)
    assert is_urgent("push", None)
    assert not is_urgent("issue_comment", "/help")
    assert not is_urgent("issue_comment", "/wcid")
    assert not is_urgent("issue_comment", "looks good, /deploy staging later")
    assert not is_urgent("issue_comment", "/deploy staging please")  # not a command
    assert not is_urgent("issue_comment", None)


async def test_ahead_jobs_run_before_those_already_waiting(redis_prefix: str) -> None:
    redis = await queue.connect(REDIS_URL)
    try:
        for n in range(5):
            await queue.enqueue(redis, redis_prefix, "handle_delivery",
                                queue.delivery_job_id(redis_prefix, f"chatter-{n}"), n)
        await queue.enqueue(redis, redis_prefix, "run_request",
                            queue.request_job_id(redis_prefix, 1), 1, ahead=True)
        await queue.enqueue(redis, redis_prefix, "handle_delivery",
                            queue.delivery_job_id(redis_prefix, "merge"), 9, ahead=True)
        order = [j.decode() for j in await redis.zrange(queue.queue_name(redis_prefix), 0, -1)]
    finally:
        await redis.delete(queue.queue_name(redis_prefix))
        await redis.aclose()
    # (between themselves in arrival order to the millisecond: not asserted)
    assert set(order[:2]) == {queue.request_job_id(redis_prefix, 1),
                              queue.delivery_job_id(redis_prefix, "merge")}
    assert order[2:] == [queue.delivery_job_id(redis_prefix, f"chatter-{n}") for n in range(5)]
