"""Core: what every layer of erpsync shares; it imports nothing else of erpsync.

- :mod:`core.clock`: ``utcnow``, the aware UTC time every layer reads.
- :mod:`core.errors`: the error tree (``ErpsyncError`` and below) callers branch on.
- :mod:`core.redact`: secret redaction for log lines and error texts; the structlog processor.
- :mod:`core.excerpt`: ``shorten``, a text cut at a word for messages and bounded columns.
- :mod:`core.csvsafe`: the one CSV writer, whose cells never run as spreadsheet formulas.
- :mod:`core.http`: our User-Agent, ``Retry-After`` parsing, transient statuses, body excerpts.
- :mod:`core.statuses`: the typed states of orders, dispatch instructions, outbox messages,
  alerts and sync runs.
- :mod:`core.ports`: the protocols a sales channel or an ERP implements (stock push,
  fulfilment, sales-document sink) and their value types.
"""
