"""Webhook handlers, one module per behaviour; importing the package registers them."""

from workers.handlers import check_run, merge, pr_comment, pr_head  # noqa: F401  (registration)
