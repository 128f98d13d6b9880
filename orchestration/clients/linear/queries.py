"""Every GraphQL document the project sends to Linear.

Rules (tests/test_linear_queries.py enforces them against schema.graphql):
- one connection per query, paged with explicit `$first`/`$after`, `pageInfo { hasNextPage endCursor }`;
  no nested connections: Linear caps a query at 10,000 complexity points and nested connections multiply
  their `first`;
- `includeArchived: true` wherever the argument exists, or archived records silently vanish;
- the operation name matches the constant's purpose; errors quote it.
"""

from __future__ import annotations

PAGE_INFO = "pageInfo { hasNextPage endCursor }"

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
