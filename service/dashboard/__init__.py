"""The dashboard, served by the web process: each repository's environments (the release
running there, lock, queue), deployments live (server-sent events from the ledger), the
history with its plot, and the Rollback and Unlock buttons for people allowed to use them.
Server-rendered (Jinja2) with a little JavaScript; no front-end build."""
