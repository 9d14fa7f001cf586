"""Webhook handlers, one module per behaviour; `routes.py` wires them to events."""
