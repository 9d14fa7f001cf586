"""The ledger: deployments, their steps and backups, in the bot's own PostgreSQL."""
