"""The runbook engine: steps as data, run in order, undone in reverse on failure.

It knows nothing of GitHub or HTTP: it takes an environment, a source tree and a reporter,
and emits events (DESIGN.md, Rules of the house)."""
