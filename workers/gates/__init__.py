"""The pre-production checklist (runbook), as gates evaluated before production changes.

Each gate is a function of facts gathered beforehand (from the ledger, GitHub and the
environment), so the same rules hold for every way in: comments, check-run buttons and the
CLI. A gate that is not met says why and how to meet it."""
