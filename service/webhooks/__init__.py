"""Webhook intake: verify, record, enqueue, answer — nothing else in the request."""
