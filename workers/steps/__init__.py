"""The runbook's steps, one module each (DESIGN.md, "The runbook, automated")."""
