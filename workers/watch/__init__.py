"""The watch after a deployment (runbook: Monitoring): sample the function host's latency
and error rate and the database's connections for the watch window, and act on a breach."""
