"""A Shopify-shaped order payload and a field map for it, shared by the mapping tests."""

from __future__ import annotations

import copy
from typing import Any

ORDER: dict[str, Any] = {
    "id": 450789469,
    "name": "#1001",
    "email": "bob.norman@mail.example.com",
    "financial_status": "paid",
    "created_at": "2008-01-10T10:55:00-05:00",
    "updated_at": "2008-01-10T11:00:00-05:00",
    "currency": "USD",
    "total_price": "598.94",
    "line_items": [
        {"id": 466157049, "sku": "IPOD2008GREEN", "quantity": 1, "price": "199.00", "title": "IPod Nano"},
        {"id": 518995019, "sku": "IPOD2008RED", "quantity": "2", "price": "199.97", "title": "IPod Nano"},
    ],
    "shipping_address": {
        "name": "Bob Norman",
        "phone": "+1(502)-459-2181",
        "address1": "Chestnut Street 92",
        "city": "Louisville",
        "province": "Kentucky",
        "country_code": "US",
        "zip": "40202",
    },
}

ORDER_SPEC: dict[str, Any] = {
    "channel": {"const": "shopify"},
    "external_id": {"path": "id", "convert": ["str"]},
    "customer_ref": "name",
    "status": {
        "path": "financial_status",
        "convert": [{"lookup": {"table": {"paid": "paid", "pending": "pending"}, "default": "open"}}],
    },
    "placed_at": {"path": "created_at", "convert": ["datetime"]},
    "updated_at": {"path": "updated_at", "convert": ["datetime"]},
    "currency": {"path": "currency", "default": "CNY"},
    "total": {"path": "total_price", "convert": ["decimal"]},
    "ship_to": {
        "path": "shipping_address",
        "fields": {
            "name": "name",
            "phone": "phone",
            "street": "address1",
            "city": "city",
            "province": "province",
            "country": "country_code",
            "postal_code": "zip",
        },
    },
    "lines": {
        "path": "line_items",
        "each": {
            "sku": "sku",
            "qty": {"path": "quantity", "convert": ["int"]},
            "unit_price": {"path": "price", "convert": ["decimal"]},
            "external_line_id": {"path": "id", "convert": ["str"]},
            "description": "title",
        },
    },
}


def order(**changes: Any) -> dict[str, Any]:
    """Return a deep copy of ORDER with top-level keys replaced."""
    payload = copy.deepcopy(ORDER)
    payload.update(changes)
    return payload
