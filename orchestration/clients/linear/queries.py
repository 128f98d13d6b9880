"""Every GraphQL document the project sends to Linear.

Rules (tests/test_linear_queries.py enforces them against schema.graphql):
- one connection per query, paged with explicit `$first`/`$after`, `pageInfo { hasNextPage endCursor }`
  (the documents of `batched_query` read several root connections side by side, aliased, each paged so);
  no nested connections: Linear caps a query at 10,000 complexity points and nested connections multiply
  their `first`; a query of single objects only (the organization and the key's user) has none;
- `includeArchived: true` wherever the argument exists, or archived records silently vanish;
- the operation name matches the constant's purpose; errors quote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PAGE_INFO = "pageInfo { hasNextPage endCursor }"

# `warehouse check` and the warehouse's source marker: which organization the key reads, and whose key it is.
ORGANIZATION_QUERY = """
query Organization {
  organization {
    id
    name
    urlKey
  }
  viewer {
    id
    name
    email
  }
}
"""

USERS_QUERY = f"""
query Users($first: Int!, $after: String) {{
  users(first: $first, after: $after, includeArchived: true, includeDisabled: true) {{
    nodes {{
      id
      name
      displayName
      email
      active
      admin
      guest
      createdAt
      updatedAt
      archivedAt
    }}
    {PAGE_INFO}
  }}
}}
"""

TEAMS_QUERY = f"""
query Teams($first: Int!, $after: String) {{
  teams(first: $first, after: $after, includeArchived: true) {{
    nodes {{
      id
      key
      name
      timezone
      cyclesEnabled
      private
      createdAt
      updatedAt
      archivedAt
    }}
    {PAGE_INFO}
  }}
}}
"""

CYCLES_QUERY = f"""
query Cycles($first: Int!, $after: String) {{
  cycles(first: $first, after: $after, includeArchived: true) {{
    nodes {{
      id
      number
      name
      startsAt
      endsAt
      completedAt
      createdAt
      updatedAt
      archivedAt
      team {{ id }}
    }}
    {PAGE_INFO}
  }}
}}
"""

PROJECTS_QUERY = f"""
query Projects($first: Int!, $after: String) {{
  projects(first: $first, after: $after, includeArchived: true) {{
    nodes {{
      id
      name
      status {{ id name type }}
      lead {{ id }}
      progress
      startDate
      targetDate
      startedAt
      completedAt
      canceledAt
      createdAt
      updatedAt
      archivedAt
    }}
    {PAGE_INFO}
  }}
}}
"""

WORKFLOW_STATES_QUERY = f"""
query WorkflowStates($first: Int!, $after: String) {{
  workflowStates(first: $first, after: $after, includeArchived: true) {{
    nodes {{
      id
      name
      type
      position
      createdAt
      updatedAt
      archivedAt
      team {{ id }}
    }}
    {PAGE_INFO}
  }}
}}
"""

CUSTOMERS_QUERY = f"""
query Customers($first: Int!, $after: String) {{
  customers(first: $first, after: $after, includeArchived: true) {{
    nodes {{
      id
      name
      domains
      revenue
      size
      createdAt
      updatedAt
      archivedAt
    }}
    {PAGE_INFO}
  }}
}}
"""

# Issue labels: workspace labels (team null) and team labels; a group label (isGroup) is a parent of others
# and is never applied itself. Issues name theirs in `labelIds` (a list, not a nested connection).
LABELS_QUERY = f"""
query IssueLabels($first: Int!, $after: String) {{
  issueLabels(first: $first, after: $after, includeArchived: true) {{
    nodes {{
      id
      name
      color
      isGroup
      createdAt
      updatedAt
      archivedAt
      parent {{ id }}
      team {{ id }}
    }}
    {PAGE_INFO}
  }}
}}
"""

# Customer needs (requests): a customer asking for an issue and/or a project. A plan feature, like customers.
CUSTOMER_NEEDS_QUERY = f"""
query CustomerNeeds($first: Int!, $after: String) {{
  customerNeeds(first: $first, after: $after, includeArchived: true) {{
    nodes {{
      id
      priority
      createdAt
      updatedAt
      archivedAt
      customer {{ id }}
      issue {{ id }}
      project {{ id }}
    }}
    {PAGE_INFO}
  }}
}}
"""

# `filter` is null for a full read, or {"updatedAt": {"gte": ..., "lt": ...}} for an incremental one. The
# selection is what the raw contract keeps (raw_tables.LINEAR_ISSUES), nothing more: every field costs
# complexity points on every one of 250 nodes a page (0.1 a scalar, 1.1 a `{ id }` ref), and the hourly
# budget is 250,000 points. Team keys and state types come from the teams and workflow states.
ISSUES_QUERY = f"""
query Issues($first: Int!, $after: String, $filter: IssueFilter) {{
  issues(first: $first, after: $after, filter: $filter, includeArchived: true, orderBy: updatedAt) {{
    nodes {{
      id
      identifier
      number
      title
      estimate
      priority
      previousIdentifiers
      createdAt
      updatedAt
      startedAt
      completedAt
      canceledAt
      archivedAt
      trashed
      labelIds
      team {{ id }}
      state {{ id }}
      cycle {{ id }}
      project {{ id }}
      assignee {{ id }}
    }}
    {PAGE_INFO}
  }}
}}
"""

# The reconcile walk (assets/linear.py, raw.linear_issue_ids): every issue Linear still returns, archived and
# trashed ones included, with the two flags whose change may not bump `updatedAt` (an open fact), so an
# incremental load cannot be relied on to see them. About 300 points a page of 250, an eighth of a full
# issues page; an issue missing from a complete walk was deleted (purged from the trash after 30 days).
ISSUE_IDS_QUERY = f"""
query IssueIds($first: Int!, $after: String) {{
  issues(first: $first, after: $after, includeArchived: true) {{
    nodes {{
      id
      archivedAt
      trashed
    }}
    {PAGE_INFO}
  }}
}}
"""

# --- issue history ---------------------------------------------------------------------------------
# There is no root query for history: it hangs off each issue (`Issue.history`, `Issue.stateHistory`), so
# these documents nest two connections under an issues page, and each nested `first` multiplies the page's
# complexity. A batch selects the issues by id (those whose history is missing or older than their
# updatedAt, see assets/linear.py); `history_batch_size` keeps a batch under Linear's 10,000 points; an
# issue with more records than the nested `first` is finished with the *_PAGE_QUERY documents. The shape
# and the page sizes were chosen from the measured cost of the first load and the daily run
# (benchmarks/history_shapes.py). tests/test_linear_queries.py checks the point arithmetic below
# against the sandbox's estimator (Linear's published rule).

# Only what the raw contract keeps: scalars and ids (an object costs 1 point per record, a scalar 0.1).
HISTORY_NODE_FIELDS = (
    "id",
    "createdAt",
    "fromStateId",
    "toStateId",
    "fromCycleId",
    "toCycleId",
    "fromTeamId",
    "toTeamId",
    "fromEstimate",
    "toEstimate",
    "fromAssigneeId",
    "toAssigneeId",
    "fromProjectId",
    "toProjectId",
    "fromPriority",
    "toPriority",
    "addedLabelIds",
    "removedLabelIds",
    "archived",
    "trashed",
    "actorId",
)
STATE_SPAN_NODE_FIELDS = ("id", "stateId", "startedAt", "endedAt")
_HISTORY_NODES = "nodes { " + " ".join(HISTORY_NODE_FIELDS) + " }"
_SPAN_NODES = "nodes { " + " ".join(STATE_SPAN_NODE_FIELDS) + " }"

ISSUE_HISTORY_QUERY = f"""
query IssueHistory($first: Int!, $after: String, $filter: IssueFilter, $historyFirst: Int!, $spansFirst: Int!) {{
  issues(first: $first, after: $after, filter: $filter, includeArchived: true) {{
    nodes {{
      id
      updatedAt
      history(first: $historyFirst, includeArchived: true) {{
        {_HISTORY_NODES}
        {PAGE_INFO}
      }}
      stateHistory(first: $spansFirst) {{
        {_SPAN_NODES}
        {PAGE_INFO}
      }}
    }}
    {PAGE_INFO}
  }}
}}
"""

# The rest of one issue's history when it has more records than the batch's `historyFirst`.
ISSUE_HISTORY_PAGE_QUERY = f"""
query IssueHistoryPage($id: String!, $first: Int!, $after: String) {{
  issue(id: $id) {{
    history(first: $first, after: $after, includeArchived: true) {{
      {_HISTORY_NODES}
      {PAGE_INFO}
    }}
  }}
}}
"""

ISSUE_STATE_SPANS_PAGE_QUERY = f"""
query IssueStateSpansPage($id: String!, $first: Int!, $after: String) {{
  issue(id: $id) {{
    stateHistory(first: $first, after: $after) {{
      {_SPAN_NODES}
      {PAGE_INFO}
    }}
  }}
}}
"""

# Linear's complexity rule (api-notes.md): 0.1 per scalar, 1 per object, a connection's nodes times its
# `first`. pageInfo is an object with two scalars.
_PAGE_INFO_POINTS = 1 + 0.1 * 2


def connection_points(first: int, node_scalars: int) -> float:
    return 1 + first * (1 + 0.1 * node_scalars) + _PAGE_INFO_POINTS


def history_batch_points(first: int, history_first: int, spans_first: int) -> float:
    """Points of one ISSUE_HISTORY_QUERY page of `first` issues."""
    issue = (
        1
        + 0.1 * 2  # id, updatedAt
        + connection_points(history_first, len(HISTORY_NODE_FIELDS))
        + connection_points(spans_first, len(STATE_SPAN_NODE_FIELDS))
    )
    return 1 + first * issue + _PAGE_INFO_POINTS


def history_page_points(first: int, spans: bool = False) -> float:
    """Points of one ISSUE_HISTORY_PAGE_QUERY (or ISSUE_STATE_SPANS_PAGE_QUERY) request."""
    fields = STATE_SPAN_NODE_FIELDS if spans else HISTORY_NODE_FIELDS
    return 1 + connection_points(first, len(fields))


# --- batched reads -----------------------------------------------------------------------------------
# A daily run re-reads whole lists (the dimensions, the customer needs, every issue id for the reconcile
# walk). One page of one connection per request made that ~110 requests a day for the team of 200, most of
# them far below Linear's 10,000 points a query. `batched_query` asks for several root connections at once,
# aliased `c0`, `c1`, ...: different lists, or createdAt (startsAt) slices of one list, each paged on its own
# cursor (`$after0`, ...). Complexity is the sum of the parts (Linear's rule: the root adds nothing), so the
# client packs parts up to a point limit (client.BATCH_POINTS). The node selections are those of the
# single-connection documents above, so a batched read loads exactly what they load.


@dataclass(frozen=True)
class Connection:
    """A root connection a batched document can read: `field(first, after, [filter], arguments)`."""

    field: str
    nodes: str  # the node selection, as in the connection's single document
    filter_type: str | None = None  # the filter input type, when the reads slice it
    slice_field: str | None = None  # the non-null DateTime field slices are cut on (createdAt, startsAt)
    arguments: str = "includeArchived: true"


def _nodes_of(document: str) -> str:
    """The node selection of a single-connection document (its `nodes { ... }` block, flattened)."""
    start = document.index("nodes {") + len("nodes {")
    depth, end = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(document[end], 0)
        end += 1
    return " ".join(document[start : end - 1].split())


CONNECTIONS: dict[str, Connection] = {
    "users": Connection(
        "users", _nodes_of(USERS_QUERY), "UserFilter", "createdAt", "includeArchived: true, includeDisabled: true"
    ),
    "teams": Connection("teams", _nodes_of(TEAMS_QUERY), "TeamFilter", "createdAt"),
    "cycles": Connection("cycles", _nodes_of(CYCLES_QUERY), "CycleFilter", "startsAt"),
    "projects": Connection("projects", _nodes_of(PROJECTS_QUERY), "ProjectFilter", "createdAt"),
    "workflowStates": Connection(
        "workflowStates", _nodes_of(WORKFLOW_STATES_QUERY), "WorkflowStateFilter", "createdAt"
    ),
    "issueLabels": Connection("issueLabels", _nodes_of(LABELS_QUERY), "IssueLabelFilter", "createdAt"),
    "customers": Connection("customers", _nodes_of(CUSTOMERS_QUERY), "CustomerFilter", "createdAt"),
    "customerNeeds": Connection("customerNeeds", _nodes_of(CUSTOMER_NEEDS_QUERY), "CustomerNeedFilter", "createdAt"),
    "issueIds": Connection("issues", _nodes_of(ISSUE_IDS_QUERY), "IssueFilter", "createdAt"),
}

# Operation names of the batched documents (errors quote them).
DIMENSIONS_OPERATION = "Dimensions"
CUSTOMER_NEEDS_OPERATION = "CustomerNeedSlices"
ISSUE_IDS_OPERATION = "IssueIdSlices"


def slice_field(name: str) -> str:
    """The field the slices of connection `name` are cut on."""
    field = CONNECTIONS[name].slice_field
    if field is None:
        raise ValueError(f"connection {name} cannot be sliced")
    return field


def batched_query(operation: str, parts: Sequence[tuple[str, bool]]) -> str:
    """One document reading `parts` (CONNECTIONS key, whether it takes a filter) side by side, aliased c0, c1,
    ...: all with the same `$first`, each with its own `$after<i>` (and `$filter<i>`)."""
    params = ["$first: Int!"]
    fields = []
    for i, (name, filtered) in enumerate(parts):
        connection = CONNECTIONS[name]
        params.append(f"$after{i}: String")
        args = ["first: $first", f"after: $after{i}"]
        if filtered:
            if connection.filter_type is None:
                raise ValueError(f"connection {name} takes no filter")
            params.append(f"$filter{i}: {connection.filter_type}")
            args.append(f"filter: $filter{i}")
        if connection.arguments:
            args.append(connection.arguments)
        head = f"  c{i}: {connection.field}({', '.join(args)})"
        fields.append(f"{head} {{\n    nodes {{ {connection.nodes} }}\n    {PAGE_INFO}\n  }}")
    return f"query {operation}({', '.join(params)}) {{\n" + "\n".join(fields) + "\n}\n"
