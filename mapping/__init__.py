"""Mapping: raw connector payloads to canonical records, pure and without I/O.

A bad record raises ``core.errors.RecordError``.

- :mod:`mapping.records`: the canonical records (Product, StockLevel, Order, Shipment, ...).
- :mod:`mapping.converters` / :mod:`mapping.values`: named converters (int, datetime, lookup, unit...).
- :mod:`mapping.fieldmap`: ``FieldMap``, a declarative JMESPath field table for one record type.
- :mod:`mapping.skus`: ``SkuBinding`` / ``Binder``: external SKUs and pack sizes to ours; CSV import.
- :mod:`mapping.pipeline`: ``Mapper`` maps one payload or a page (bad records become failures).
- :mod:`mapping.preview`: what a field map makes of sample payloads, for ``erpsync mapping preview``.
"""
