"""Connectors: one module per external system, plus the pieces they share.

* :mod:`connectors.base` — the contract (``Connector``, ``ConnectorSettings``, ``Stream``, ``Page``)
* :mod:`connectors.http` — ``HttpClient``: retries, ``Retry-After``, error mapping, auth helpers
* :mod:`connectors.ratelimit` — ``RateLimiter`` (one budget per account), ``TokenBucket``
* :mod:`connectors.paginate` — paginator declarations and ``iter_pages``
* :mod:`connectors.cursors` — ordering cursor values, ``MaxCursor``
* :mod:`connectors.registry` — discovery through the ``erpsync.connectors`` entry point group
* :mod:`connectors.rest` — the generic REST/JSON connector (kind ``rest``)
"""
