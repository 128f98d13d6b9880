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


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_pages_exactly_one_connection_and_nests_none(schema, name):
    connections = _audit(schema, name)
    if name in SINGLE_OBJECT_DOCUMENTS:
        assert connections == [], f"{name} selects connections; page them in a query of their own"
        return
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
