"""The JSON API (read-only): the deployment log."""
