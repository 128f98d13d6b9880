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

# `filter` is null for a full read, or {"updatedAt": {"gte": ..., "lt": ...}} for an incremental one.
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
      team {{ id key }}
      state {{ id type }}
      cycle {{ id }}
      project {{ id }}
      assignee {{ id }}
      parent {{ id }}
    }}
    {PAGE_INFO}
  }}
}}
"""
