"""The function host: serves an environment's active edge-function release
(`python -m workers.functions_host`, `deploybot functions-host`)."""
