"""arq jobs: handle a delivery, run a request, reconcile."""
