"""Operability: Prometheus metrics (metrics.py, shared.py), JSON logs with the delivery and
deployment ids (logs.py), secret redaction (redact.py), and the arq job wrapper (jobs.py)."""
