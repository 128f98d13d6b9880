"""Issue 17 part 2, the Linear side: the sandbox serves issue labels, project leads/dates/progress and
customer needs as Linear's schema shapes them; the client reads them; the customer needs asset loads
nothing, and says so, where the plan lacks customers (FEATURE_NOT_ACCESSIBLE)."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
import duckdb
import graphql
import pytest

from assets.linear import NO_CUSTOMERS_NOTE, linear_customer_needs, linear_labels
from orchestration.clients.errors import FeatureNotAccessible
from orchestration.clients.linear import queries as q
from orchestration.resources import linear_client
from orchestration.settings import Settings
from orchestration.warehouse.duckdb import Warehouse
from sandbox import Sandbox, SandboxConfig

ANCHOR = dt.date(2025, 3, 31)
SCHEMA_PATH = "orchestration/clients/linear/schema.graphql"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig.small(anchor=ANCHOR)) as sb:
        yield sb


def _client(sb):
    return linear_client(Settings.from_env(sb.env()), persist_budget=False)  # nothing beside a default warehouse


def test_the_new_documents_validate_against_linears_schema():
    from pathlib import Path

    schema = graphql.build_schema(Path(__file__).resolve().parents[1].joinpath(SCHEMA_PATH).read_text())
    for document in (q.LABELS_QUERY, q.CUSTOMER_NEEDS_QUERY, q.PROJECTS_QUERY, q.ISSUES_QUERY):
        assert graphql.validate(schema, graphql.parse(document)) == []


def test_sandbox_serves_labels_projects_and_needs_in_the_schemas_shape(sandbox):
    client = _client(sandbox)
    ws = sandbox.workspace
    labels = {x["id"]: x for x in client.labels()}
    assert labels.keys() == {x["id"] for x in ws.linear_labels}
    groups = {i for i, x in labels.items() if x["isGroup"]}
    assert groups and all(x["parent"] is None or x["parent"]["id"] in groups for x in labels.values())
    assert any(x["team"] is None for x in labels.values()) and any(x["team"] for x in labels.values())
    issues = client.issues()
    applied = {i for issue in issues for i in issue["labelIds"]}
    assert applied <= labels.keys() - groups  # a group label is never applied
    assert any(len(issue["labelIds"]) >= 2 for issue in issues)
    projects = client.projects()
    assert all(0 <= p["progress"] <= 1 for p in projects)
    assert any(p["lead"] for p in projects) and any(p["targetDate"] for p in projects)
    needs = client.customer_needs()
    customers = {c["id"] for c in client.customers()}
    issue_ids = {i["id"] for i in issues}
    assert needs and all(n["customer"]["id"] in customers for n in needs)
    assert all(n["issue"] is None or n["issue"]["id"] in issue_ids for n in needs)
    assert any(n["issue"] is None and n["project"] for n in needs)  # a need on a project only


def _materialize(asset, sb, path):
    settings = Settings.from_env({**sb.env(), "WAREHOUSE_PATH": str(path)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dg.materialize(
            [asset],
            resources={"linear": linear_client(settings), "warehouse": Warehouse(path=str(path))},
        )
    assert result.success
    (materialization,) = result.asset_materializations_for_node(asset.op.name)
    return materialization.metadata


def test_customer_needs_and_labels_are_loaded_into_raw(sandbox, tmp_path):
    path = tmp_path / "w.duckdb"
    meta = _materialize(linear_customer_needs, sandbox, path)
    assert meta["feature_available"].value is True
    _materialize(linear_labels, sandbox, path)
    with duckdb.connect(str(path), read_only=True) as con:
        needs = con.execute("select count(*), count(issue_id) from raw.linear_customer_needs").fetchone()
        labels = con.execute("select count(*) from raw.linear_labels").fetchone()[0]
    assert needs[0] == len(sandbox.workspace.linear_customer_needs) and 0 < needs[1] < needs[0]
    assert labels == len(sandbox.workspace.linear_labels)


def test_without_customers_on_the_plan_the_asset_says_so_and_loads_nothing(tmp_path):
    """The sandbox answers FEATURE_NOT_ACCESSIBLE like Linear (a plan without customers): the client raises
    FeatureNotAccessible (not a retry, not a query bug), the asset succeeds with an empty table and a note."""
    with Sandbox(SandboxConfig.small(anchor=ANCHOR, linear_customers_enabled=False)) as sb:
        with pytest.raises(FeatureNotAccessible, match="plan lacks the feature"):
            _client(sb).customer_needs()
        path = tmp_path / "w.duckdb"
        meta = _materialize(linear_customer_needs, sb, path)
    assert meta["feature_available"].value is False
    assert meta["note"].value == NO_CUSTOMERS_NOTE
    assert meta["dagster/row_count"].value == 0
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from raw.linear_customer_needs").fetchone()[0] == 0
