"""deploybot's executing side: arq settings, the runbook engine and steps, environment
drivers and reporters."""
