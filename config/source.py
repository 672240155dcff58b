"""Reading the config file's YAML while remembering the line every value came from.

``read_yaml`` composes the YAML node tree with ``yaml.SafeLoader``, reports duplicate keys
(which PyYAML would silently overwrite), builds the plain Python data from the nodes and
substitutes ``${VAR}`` references in string values (see ``config.interpolate``). Its
``SourceMap`` answers "which line is ``connectors[1].settings.token`` on?"; a ``Problem`` is one
finding, rendered as ``FILE:LINE PATH: message``.

Errors: none raised; findings come back as ``Problem`` objects next to the data. A YAML syntax
error gives one problem and no data, and so does a document that expands, through its aliases
(``*anchor``), to more than ``MAX_VALUES`` values: a "billion laughs" file is refused while it is
being read, in memory the size of the file, instead of being handed to validation that would
copy every expanded value.

Example::

    parsed = read_yaml("shop:\\n  url: https://${HOST}/api\\n", "demo.yaml", {"HOST": "x.example"})
    parsed.data                                  # {'shop': {'url': 'https://x.example/api'}}
    parsed.source.line_of(("shop", "url"))       # 2
    parsed.source.line_of(("shop", "missing"))   # 2: the line of the enclosing mapping
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from config.interpolate import InterpolationError, interpolate

#: where a value sits in the data: keys and list indexes from the top, e.g. ("connectors", 1, "kind")
Loc = tuple[Any, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
#: values a config may expand to, aliases counted at the size of what they repeat; a real config
#: has a few thousand, a "billion laughs" file billions
MAX_VALUES = 200_000


class _TooLarge(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def format_loc(loc: Loc) -> str:
    """Return ``loc`` written as ``connectors[1].settings.token`` (``(top level)`` for the root)."""
    text = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One finding in the config file; ``where`` is the dotted path or a label like ``(yaml syntax)``."""

    line: int
    where: str
    message: str

    def render(self, filename: str) -> str:
        """Return the problem as ``FILE:LINE PATH: message``."""
        return f"{filename}:{self.line} {self.where}: {self.message}"


@dataclass
class SourceMap:
    """Lines (1-based) of the value and of the key at each location of the data."""

    values: dict[Loc, int] = field(default_factory=dict)
    keys: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc, *, key: bool = False) -> int:
        """Return the line of the value at ``loc`` (of its key if ``key``), else of the nearest parent."""
        if key and loc in self.keys:
            return self.keys[loc]
        for end in range(len(loc), -1, -1):
            line = self.values.get(loc[:end])
            if line is not None:
                return line
        return 1

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        """Return a ``Problem`` at ``loc`` with the line this map knows for it."""
        return Problem(self.line_of(loc, key=key), format_loc(loc), message)


@dataclass
class ParsedYaml:
    """The data of a config file (None after a syntax error), its lines and the problems found."""

    data: Any
    source: SourceMap
    problems: list[Problem]
    #: locations whose value could not be read (bad tag, unset ``${VAR}``): other findings there are noise
    unresolved: set[Loc]


def read_yaml(
    text: str, filename: str, env: Mapping[str, str], *, verbatim: Collection[Loc] = ()
) -> ParsedYaml:
    """Return the data of YAML ``text`` with its source map, interpolated from ``env``.

    Strings at the locations in ``verbatim`` are kept as written, ``${VAR}`` and all: the caller
    replaces them with a value from elsewhere, so an unset variable there is no problem.
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            return ParsedYaml(None, SourceMap(), [_syntax_problem(exc, text)], set())
        except RecursionError:  # PyYAML composes nested collections recursively
            message = "collections nest too deep to read (a YAML bomb?)"
            return ParsedYaml(None, SourceMap(), [Problem(loader.line + 1, "(yaml syntax)", message)], set())
        builder = _Builder(loader, env, frozenset(verbatim))
        try:
            data = {} if root is None else builder.build(root, ())
        except RecursionError:
            message = "collections nest too deep to read (a YAML bomb?)"
            return ParsedYaml(None, SourceMap(), [Problem(1, "(yaml syntax)", message)], set())
        except _TooLarge as exc:
            message = (
                f"the document expands to more than {MAX_VALUES:,} values through its aliases (*name): "
                "refusing to read it (a YAML bomb?); repeat fewer or smaller anchored blocks"
            )
            return ParsedYaml(None, SourceMap(), [Problem(exc.line, "(yaml aliases)", message)], set())
        return ParsedYaml(data, builder.source, builder.problems, builder.unresolved)
    finally:
        loader.dispose()


def _syntax_problem(exc: yaml.YAMLError, text: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        line = exc.problem_mark.line + 1
        message = (exc.problem or "invalid YAML").removeprefix("but ")
        if exc.context and exc.context_mark is not None:
            message = f"{message} ({exc.context} on line {exc.context_mark.line + 1})"
        return Problem(line, "(yaml syntax)", message)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return Problem(line, "(yaml syntax)", f"character {exc.character!r} is not allowed in YAML")
    return Problem(1, "(yaml syntax)", "invalid YAML")


class _Builder:
    """Builds plain data from a composed node tree, recording lines and problems on the way."""

    def __init__(self, loader: yaml.SafeLoader, env: Mapping[str, str], verbatim: frozenset[Loc]) -> None:
        self.loader = loader
        self.env = env
        self.verbatim = verbatim
        self.source = SourceMap()
        self.problems: list[Problem] = []
        self.unresolved: set[Loc] = set()
        self._open: set[int] = set()  # nodes being built: an alias back into one is a cycle
        self._checked: set[int] = set()  # mappings already checked for duplicate keys
        # an alias gives the value built for its anchor, so that nested aliases ("billion laughs")
        # stay small; PyYAML hands back the anchored node, so its lines are the anchor's
        self._built: dict[int, Any] = {}
        # how many values the data holds once every alias is written out, and each node's share
        self.expanded = 0
        self._sizes: dict[int, int] = {}

    def build(self, node: Node, loc: Loc) -> Any:
        self.source.values[loc] = node.start_mark.line + 1
        if id(node) in self._built:
            self._count(self._sizes[id(node)], node)
            return self._built[id(node)]
        if id(node) in self._open:
            return self._unreadable(loc, "an alias refers to the collection containing it")
        self._open.add(id(node))
        before = self.expanded
        try:
            if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                value: Any = self._mapping(node, loc)
            elif isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                value = [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
            else:
                value = self._scalar(node, loc)
        finally:
            self._open.discard(id(node))
        self._count(1, node)
        self._sizes[id(node)] = self.expanded - before
        self._built[id(node)] = value
        return value

    def _count(self, values: int, node: Node) -> None:
        self.expanded += values
        if self.expanded > MAX_VALUES:
            raise _TooLarge(node.start_mark.line + 1)

    def _scalar(self, node: Node, loc: Loc) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            return self._unreadable(loc, _yaml_message(exc))
        except (ValueError, KeyError, AttributeError, TypeError):
            # PyYAML's own conversions fail this way on e.g. "!!int abc" or "!!bool maybe"
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            return self._unreadable(loc, f"the value cannot be read as {tag}")
        if not isinstance(value, str) or loc in self.verbatim:
            return value
        try:
            return interpolate(value, self.env)
        except InterpolationError as exc:
            self._unreadable(loc, str(exc))
            return value

    def _unreadable(self, loc: Loc, message: str) -> None:
        """Record that the value at ``loc`` cannot be used; other findings there would be noise."""
        self.problems.append(self.source.problem(loc, message))
        self.unresolved.add(loc)

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        if id(node) not in self._checked:
            self._checked.add(id(node))
            self._check_duplicates(node, loc)
        try:
            self.loader.flatten_mapping(node)  # resolves "<<: *anchor" merge keys
        except yaml.YAMLError as exc:
            self.problems.append(self.source.problem(loc, _yaml_message(exc)))
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, loc)
            if key is not None:
                child = (*loc, key)
                self.source.keys[child] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, child)
        return result

    def _key(self, key_node: Node, loc: Loc) -> Any:
        if isinstance(key_node, ScalarNode):
            try:
                return self.loader.construct_object(key_node)
            except yaml.YAMLError as exc:
                message = _yaml_message(exc)
        else:
            message = "a key must be a plain value, not a list or mapping"
        self.problems.append(Problem(key_node.start_mark.line + 1, format_loc(loc), message))
        return None

    def _check_duplicates(self, node: MappingNode, loc: Loc) -> None:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            line = key_node.start_mark.line + 1
            first = seen.get((key_node.tag, key_node.value))
            if first is None:
                seen[(key_node.tag, key_node.value)] = line
            else:
                self.problems.append(
                    Problem(
                        line,
                        format_loc((*loc, key_node.value)),
                        f"duplicate key {key_node.value!r} (first given on line {first}); "
                        "keep only one, otherwise the last one silently wins",
                    )
                )


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        return exc.problem
    return "invalid YAML value"
