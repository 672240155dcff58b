"""What an alert says, in English or Simplified Chinese: why it is raised and what to do about it.

A shortage alert keeps its numbers in ``details`` (``available``, ``threshold``, ``cover_days``,
``cover_target``, ``velocity``, ``suggestion``) and its words are made from them here, in the
language asked for. ``erpsync alerts list`` and every message about the alert use these same
functions, so the list and the message say the same numbers in the same words. An alert written
before its details carried every number, and operational alerts (for IT staff), keep the English
``reason`` they were raised with.

Errors: none; a detail that is missing gives back the stored reason, or nothing.

Example::

    details = {"available": 6, "threshold": 10, "suggestion": {"reorder_qty": 34}}
    reason("shortage", "critical", details, "zh-CN")   # '剩余 6 件（严重阈值 10）'
    what_to_do(details, "en")                           # 'reorder 34 unit(s)'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.statuses import AlertSeverity

LANGUAGES = ("en", "zh-CN")

_REASONS = {
    "en": {
        "out_of_stock": "nothing left to sell",
        "critical": "{available} left (critical at {threshold})",
        "warning": "{available} left (warning at {threshold})",
        "cover": "{cover:.1f} days of cover at {velocity:.1f}/day (want {want:g})",
        "resolved": "{available} available again",
    },
    "zh-CN": {
        "out_of_stock": "已无可售库存",
        "critical": "剩余 {available} 件（严重阈值 {threshold}）",
        "warning": "剩余 {available} 件（预警阈值 {threshold}）",
        "cover": "按每天 {velocity:.1f} 件的销量仅够 {cover:.1f} 天（目标 {want:g} 天）",
        "resolved": "可售库存已恢复至 {available} 件",
    },
}
_TODO = {
    "en": ("reorder {qty} unit(s)", ", or transfer {transfer} from {source}"),
    "zh-CN": ("补货 {qty} 件", "，或从 {source} 调拨 {transfer} 件"),
}


def language(lang: str) -> str:
    """``lang`` when its texts exist, else English."""
    return lang if lang in LANGUAGES else "en"


def reason(kind: str, severity: str, details: Mapping[str, Any], lang: str, *, resolved: bool = False) -> str:
    """Why the alert is raised (or, with ``resolved``, why it is over), in ``lang``."""
    texts = _REASONS[language(lang)]
    available = details.get("available")
    stored = str(details.get("reason") or "")
    if kind != "shortage" or not isinstance(available, int):
        return stored
    if resolved:
        return texts["resolved"].format(available=available)
    if severity == AlertSeverity.OUT_OF_STOCK:
        return texts["out_of_stock"]
    threshold = details.get("threshold")
    if (
        severity in (AlertSeverity.CRITICAL, AlertSeverity.WARNING)
        and isinstance(threshold, int)
        and available <= threshold
    ):
        return texts[severity].format(available=available, threshold=threshold)
    cover, want = details.get("cover_days"), details.get("cover_target")
    if severity == AlertSeverity.WARNING and isinstance(cover, int | float) and isinstance(want, int | float):
        return texts["cover"].format(cover=cover, velocity=float(details.get("velocity") or 0), want=want)
    return stored


def what_to_do(details: Mapping[str, Any], lang: str) -> str:
    """The suggested reorder and transfer, in ``lang``; empty when there is none."""
    suggestion = details.get("suggestion") or {}
    qty = suggestion.get("reorder_qty")
    if not qty:
        return ""
    reorder, transfer = _TODO[language(lang)]
    text = reorder.format(qty=qty)
    if suggestion.get("transfer_from"):
        text += transfer.format(transfer=suggestion.get("transfer_qty"), source=suggestion["transfer_from"])
    return text


__all__ = ["LANGUAGES", "language", "reason", "what_to_do"]
