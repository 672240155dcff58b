"""The central schema: SQLAlchemy 2.0 typed models of everything erpsync keeps.

One module per topic — :mod:`store.models.catalog` (products, locations, stock, listings),
:mod:`store.models.orders` (orders, reservations, dispatch, parcels) and
:mod:`store.models.bookkeeping` (alerts, outbox, sync cursors, leases and runs, quarantine,
audit, task state) on the shared :mod:`store.models.base`; every model is importable from here.

Conventions: surrogate ``id`` keys (BIGINT), business keys as unique constraints, SKUs and
location codes as plain strings (a binding or a stock row may arrive before its product),
quantities as integers in the SKU's base unit, money as ``DECIMAL(18,4)``, timestamps as UTC
with microseconds (``store.types.UTCDateTime``). Statuses are short strings, the values of
``core.statuses`` members the code writes and compares, so adding a state is not a schema change.

Alembic migrations in ``store/migrations`` are the only way this schema reaches a database;
a test asserts that autogenerate finds no difference between these models and the migrated
schema on SQLite and on MySQL/MariaDB.
"""

from store.models.base import Base
from store.models.bookkeeping import (
    Alert,
    AuditLog,
    Outbox,
    Quarantine,
    SnapshotHold,
    SyncCursor,
    SyncLease,
    SyncRun,
    TaskState,
)
from store.models.catalog import (
    ChannelListing,
    Location,
    LocationRegion,
    Product,
    SkuBinding,
    StockLevel,
    StockMovement,
    StockReport,
)
from store.models.orders import Allocation, DispatchInstruction, OrderLine, RequestNonce, SalesOrder, Shipment

__all__ = [
    "Alert",
    "Allocation",
    "AuditLog",
    "Base",
    "ChannelListing",
    "DispatchInstruction",
    "Location",
    "LocationRegion",
    "OrderLine",
    "Outbox",
    "Product",
    "Quarantine",
    "RequestNonce",
    "SalesOrder",
    "Shipment",
    "SkuBinding",
    "SnapshotHold",
    "StockLevel",
    "StockMovement",
    "StockReport",
    "SyncCursor",
    "SyncLease",
    "SyncRun",
    "TaskState",
]
