"""Edge function `calculate-quote`: price a 3D print and store the quote.

The function host imports this directory as a package and serves `app` at
/functions/v1/calculate-quote. See README.md for the request, the response and
the price table.
"""

from .handler import app

__all__ = ["app"]
