"""Every GraphQL document in clients/linear/queries.py is valid against Linear's schema and stays flat.

Documents are discovered, not listed: any module-level string that parses as a GraphQL document (or looks
like one and so must parse), so a query added later cannot escape these checks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    parse,
    validate,
    visit,
)
from graphql.error import GraphQLSyntaxError

from orchestration.clients.linear import queries as linear_queries
from orchestration.clients.linear.client import MAX_PAGE_SIZE, LinearClient, operation_name

SCHEMA_PATH = Path(linear_queries.__file__).with_name("schema.graphql")
LOOKS_LIKE_DOCUMENT = re.compile(r"^\s*(query|mutation|subscription|fragment)\b")


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text())


def _documents() -> dict[str, str]:
    found = {}
    for name, value in vars(linear_queries).items():
        if name.startswith("_") or not isinstance(value, str):
            continue
        try:
            document = parse(value)
        except GraphQLSyntaxError:
            if LOOKS_LIKE_DOCUMENT.match(value) or name.endswith(("_QUERY", "_MUTATION", "_DOCUMENT")):
                found[name] = value  # looks like a document but does not parse: the test must fail
            continue
        if any(isinstance(d, OperationDefinitionNode) for d in document.definitions):
            found[name] = value
    return found


DOCUMENTS = _documents()


def test_documents_are_discovered():
    assert len(DOCUMENTS) >= 7
    assert "PAGE_INFO" not in DOCUMENTS  # a fragment of text, not a document


def test_every_client_query_is_in_the_module():
    # The client must not send a document that lives elsewhere (and so escapes these tests).
    client_source = Path(LinearClient.__module__.replace(".", "/") + ".py")
    source = (Path(__file__).parents[1] / client_source).read_text()
    assert not re.search(r"\b(query|mutation)\s+\w+\s*[({]", source), "inline GraphQL in linear.py"
    for name in re.findall(r"\bq\.([A-Z_]+)", source):
        assert name in DOCUMENTS, name


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_validates_against_linear_schema(schema, name):
    document = parse(DOCUMENTS[name])  # raises on syntax errors
    errors = validate(schema, document)
    assert not errors, f"{name}: " + "; ".join(e.message for e in errors)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_one_named_operation(name):
    document = parse(DOCUMENTS[name])
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1 and operations[0].name is not None
    assert operation_name(DOCUMENTS[name]) == operations[0].name.value


class _ConnectionAudit(Visitor):
    """Records each connection field, how many connections enclose it, and its arguments."""

    def __init__(self, type_info: TypeInfo):
        super().__init__()
        self.type_info = type_info
        self.stack: list[bool] = []
        self.connections: list[dict] = []

    def enter_field(self, node: FieldNode, *_):
        field_def = self.type_info.get_field_def()
        is_connection = field_def is not None and get_named_type(field_def.type).name.endswith("Connection")
        if is_connection:
            selections = {s.name.value: s for s in node.selection_set.selections if isinstance(s, FieldNode)}
            page_info = selections.get("pageInfo")
            self.connections.append(
                {
                    "name": node.name.value,
                    "depth": sum(self.stack),
                    "arguments": {a.name.value: a.value for a in node.arguments},
                    "allowed": set(field_def.args),
                    "page_info": {s.name.value for s in page_info.selection_set.selections} if page_info else set(),
                }
            )
        self.stack.append(is_connection)

    def leave_field(self, *_):
        self.stack.pop()


def _audit(schema, name_or_text):
    type_info = TypeInfo(schema)
    audit = _ConnectionAudit(type_info)
    visit(parse(DOCUMENTS.get(name_or_text, name_or_text)), TypeInfoVisitor(type_info, audit))
    return audit.connections


def test_audit_catches_a_nested_connection(schema):
    nested = """
    query Nested($first: Int!, $after: String) {
      issues(first: $first, after: $after) { nodes { id labels { nodes { id } } } pageInfo { hasNextPage endCursor } }
    }"""
    assert [(c["name"], c["depth"]) for c in _audit(schema, nested)] == [("issues", 0), ("labels", 1)]


# Queries of single objects (no connection, so nothing to page): named here, so a list query cannot
# drop its connection's paging unnoticed.
SINGLE_OBJECT_DOCUMENTS = {"ORGANIZATION_QUERY"}
# Issue history has no root query (api-notes.md): it hangs off each issue, so this one document nests the
# issue's two history connections under an issues page, each with its own variable `first` (the client sizes
# the page from them; see test_history_points_match_the_sandbox_estimator). Every other document stays flat.
NESTED_BY_DESIGN = {"ISSUE_HISTORY_QUERY": {"history": "historyFirst", "stateHistory": "spansFirst"}}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_pages_exactly_one_connection_and_nests_none(schema, name):
    connections = _audit(schema, name)
    if name in SINGLE_OBJECT_DOCUMENTS:
        assert connections == [], f"{name} selects connections; page them in a query of their own"
        return
    nested = NESTED_BY_DESIGN.get(name, {})
    for inner in [c for c in connections if c["name"] in nested]:
        assert inner["depth"] == 1, f"{name}: {inner['name']} must hang directly off the issues page"
        first = inner["arguments"].get("first")
        assert getattr(first, "kind", None) == "variable" and first.name.value == nested[inner["name"]]
        assert {"hasNextPage", "endCursor"} <= inner["page_info"], f"{name}.{inner['name']}: select pageInfo"
        if "includeArchived" in inner["allowed"]:
            assert getattr(inner["arguments"].get("includeArchived"), "value", None) is True
    assert len([c for c in connections if c["name"] in nested]) == len(nested), f"{name}: {sorted(nested)}"
    connections = [c for c in connections if c["name"] not in nested]
    assert len(connections) == 1, f"{name} selects {len(connections)} connections; keep queries flat"
    (connection,) = connections
    assert connection["depth"] == 0, f"{name} nests connection {connection['name']}"
    arguments = connection["arguments"]
    # An explicit page size: without it Linear uses 50 and complexity is estimated from the default.
    assert getattr(arguments.get("first"), "kind", None) == "variable", f"{name}: `first` must be a variable"
    assert getattr(arguments.get("after"), "kind", None) == "variable", f"{name}: `after` must be a variable"
    assert {"hasNextPage", "endCursor"} <= connection["page_info"], f"{name}: select pageInfo"
    if "includeArchived" in connection["allowed"]:
        value = arguments.get("includeArchived")
        assert value is not None and getattr(value, "value", None) is True, f"{name}: includeArchived: true"


def test_default_page_size_is_linear_maximum():
    assert LinearClient(api_key="x").page_size == MAX_PAGE_SIZE == 250


@pytest.mark.parametrize(
    ("issues", "history_first", "spans_first"), [(1, 8, 6), (40, 8, 6), (100, 5, 5), (250, 1, 1), (10, 25, 25)]
)
def test_history_points_match_the_sandbox_estimator(issues, history_first, spans_first):
    # The client prices a history batch before sending it (to keep it under 10,000 points and inside the hour's
    # budget); its arithmetic must agree with Linear's published rule, which the sandbox implements.
    from sandbox.linear import estimate_complexity

    variables = {"first": issues, "historyFirst": history_first, "spansFirst": spans_first, "filter": None}
    expected = estimate_complexity(linear_queries.ISSUE_HISTORY_QUERY, variables)
    assert linear_queries.history_batch_points(issues, history_first, spans_first) == pytest.approx(expected)
    for document, spans in (
        (linear_queries.ISSUE_HISTORY_PAGE_QUERY, False),
        (linear_queries.ISSUE_STATE_SPANS_PAGE_QUERY, True),
    ):
        expected = estimate_complexity(document, {"id": "x", "first": history_first})
        assert linear_queries.history_page_points(history_first, spans=spans) == pytest.approx(expected)


def test_history_batch_stays_under_linear_query_cap():
    from orchestration.clients.linear.client import HISTORY_BATCH_POINTS, history_batch_size

    for history_first, spans_first in ((8, 6), (25, 25), (1, 1), (50, 50)):
        size = history_batch_size(history_first, spans_first)
        assert linear_queries.history_batch_points(size, history_first, spans_first) <= HISTORY_BATCH_POINTS < 10_000
        assert (
            size == 250
            or linear_queries.history_batch_points(size + 1, history_first, spans_first) > HISTORY_BATCH_POINTS
        )
