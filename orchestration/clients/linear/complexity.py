"""A query's complexity before it is sent: Linear's rules, computed from the document, its variables and the
schema (schema.graphql beside this file), so the client can wait for budget instead of being refused.

The rules (api-notes.md, "Limits"): 0.1 point per scalar property, 1 per object, and a connection's `nodes`
/ `edges` multiplied by its `first` / `last` (default 50). tests/test_linear_budget.py checks that the
estimate equals what the sandbox announces in `x-complexity` for every document the project sends.

Parsing the whole schema takes seconds; only the type definitions a document reaches are parsed, each once,
found by their `type X` / `interface X` line (every definition in the schema file starts at column 0 and
ends at a lone `}`).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
SCALAR_POINTS = 0.1
OBJECT_POINTS = 1.0
DEFAULT_PAGE = 50
BUILTIN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})


@dataclass(frozen=True)
class FieldInfo:
    type_name: str  # the named type (lists and non-null unwrapped)
    arg_defaults: Mapping[str, Any]  # defaults the schema declares for `first` / `last`


class SchemaIndex:
    """Object and interface types of the schema, parsed on first use; scalars and enums are leaves."""

    def __init__(self, sdl: str) -> None:
        self._sdl = sdl
        self._starts = {
            m.group(2): m.start() for m in re.finditer(r"^(type|interface|input) (\w+)\b", sdl, re.MULTILINE)
        }
        self.leaves = BUILTIN_SCALARS | set(re.findall(r"^(?:scalar|enum) (\w+)\b", sdl, re.MULTILINE))
        self._types: dict[str, dict[str, FieldInfo]] = {}
        self._lock = threading.Lock()

    def fields(self, type_name: str) -> dict[str, FieldInfo] | None:
        """The fields of an object or interface type; None for a union, a leaf or an unknown name."""
        with self._lock:
            if type_name not in self._types:
                self._types[type_name] = self._parse(type_name)
            return self._types[type_name] or None

    def _parse(self, type_name: str) -> dict[str, FieldInfo]:
        start = self._starts.get(type_name)
        if start is None:
            return {}
        end = self._sdl.find("\n}", start)
        document = graphql.parse(self._sdl[start : end + 2], no_location=True)
        (definition,) = document.definitions
        out = {}
        for field in definition.fields or ():
            named = field.type
            while not hasattr(named, "name") or not isinstance(named.name, graphql.NameNode):
                named = named.type
            defaults = {
                arg.name.value: graphql.value_from_ast_untyped(arg.default_value)
                for arg in field.arguments or ()
                if arg.name.value in ("first", "last") and arg.default_value is not None
            }
            out[field.name.value] = FieldInfo(named.name.value, defaults)
        return out

    def is_connection(self, type_name: str) -> bool:
        fields = self.fields(type_name) if type_name.endswith("Connection") else None
        return bool(fields) and "pageInfo" in fields


@functools.cache
def schema_index() -> SchemaIndex:
    return SchemaIndex(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=64)
def _parsed(document: str) -> graphql.DocumentNode:
    return graphql.parse(document, no_location=True)


def estimate(document: str, variables: Mapping[str, Any] | None = None, operation: str | None = None) -> float:
    """The complexity points Linear charges for `document` with `variables` (its only operation, or the
    one named `operation`)."""
    index = schema_index()
    doc = _parsed(document)
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if operation:
        operations = [o for o in operations if o.name and o.name.value == operation]
    if len(operations) != 1:
        raise ValueError("name exactly one operation of the document")
    (op,) = operations
    values = dict(variables or {})
    for definition in op.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = graphql.value_from_ast_untyped(definition.default_value)

    def argument(field: FieldNode, info: FieldInfo, name: str) -> Any:
        for arg in field.arguments or ():
            if arg.name.value == name:
                if isinstance(arg.value, VariableNode):
                    return values.get(arg.value.name.value, info.arg_defaults.get(name))
                return graphql.value_from_ast_untyped(arg.value, values)
        return info.arg_defaults.get(name)

    def cost(selections: SelectionSetNode | None, type_name: str, page: float | None = None) -> float:
        total = 0.0
        if selections is None:
            return total
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                fields = index.fields(type_name)
                info = fields.get(name) if fields and not name.startswith("__") else None
                if info is None:
                    continue
                if info.type_name in index.leaves:
                    points = SCALAR_POINTS
                elif index.is_connection(info.type_name):
                    first, last = argument(selection, info, "first"), argument(selection, info, "last")
                    size = first if first is not None else last if last is not None else DEFAULT_PAGE
                    points = OBJECT_POINTS + cost(selection.selection_set, info.type_name, float(size))
                else:
                    points = OBJECT_POINTS + cost(selection.selection_set, info.type_name)
                if page is not None and name in ("nodes", "edges"):
                    points *= page
                total += points
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else type_name
                total += cost(selection.selection_set, condition, page)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    total += cost(fragment.selection_set, fragment.type_condition.name.value, page)
        return total

    root = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}[op.operation.value]
    return cost(op.selection_set, root)
