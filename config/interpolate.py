"""``${VAR}`` references to environment variables in the config file's string values.

``${VAR}`` is replaced by the environment variable ``VAR``; ``${VAR:-fallback}`` gives
``fallback`` when ``VAR`` is unset or empty; ``$${`` writes a literal ``${``. A reference may sit
inside longer text (``https://${SHOP_HOST}/api``). The loader substitutes string values after
the YAML has been parsed, so a variable's content is never read as YAML, and the result is
always text (pydantic converts ``"8787"`` or ``"true"`` where a number or flag is expected).

Errors: ``InterpolationError`` (a ``ValueError``) for an unset variable without fallback or a
malformed reference. Its message names the variable, never a value.

Example::

    >>> interpolate("https://${HOST}/api?v=${V:-2}", {"HOST": "shop.example"})
    'https://shop.example/api?v=2'
    >>> interpolate("price: $${amount}", {})
    'price: ${amount}'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# "$${" first so that an escaped reference is never read as a reference
_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A ``${...}`` reference cannot be replaced."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Return ``text`` with every ``${VAR}`` / ``${VAR:-fallback}`` replaced and ``$${`` unescaped."""
    if "${" not in text:
        return text
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(text[pos : match.start()])
        pos = match.end()
        body = match.group("body")
        if match.group(0) == "$${":
            out.append("${")
        elif body is None:
            raise InterpolationError("'${' is not closed by '}' (write '$${' for a literal '${')")
        else:
            out.append(_resolve(body, env))
    out.append(text[pos:])
    return "".join(out)


def _resolve(body: str, env: Mapping[str, str]) -> str:
    name, has_fallback, fallback = body.partition(":-")
    if not _NAME.fullmatch(name):
        raise InterpolationError(
            f"'${{{body}}}' is not a valid reference: write ${{NAME}} or ${{NAME:-fallback}} "
            "with NAME made of letters, digits and '_' (write '$${' for a literal '${')"
        )
    if "${" in fallback:
        raise InterpolationError(f"the fallback of ${{{name}:-...}} cannot contain another reference")
    value = env.get(name)
    if has_fallback:
        return value or fallback
    if value is None:
        raise InterpolationError(
            f"environment variable {name} is not set (set it, or write ${{{name}:-fallback}})"
        )
    return value
