"""deploybot's receiving side: web app, webhook intake, command grammar, authorization,
dashboard, settings, ledger and GitHub client. Workers import from here, never the reverse."""
