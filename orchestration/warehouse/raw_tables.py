"""The raw layer's contract: one table per API entity in schema `raw`, and the write-back links table.

Every API table keeps the record's full JSON in `_raw` (so a new API field never breaks a load), the time
of the load in `_loaded_at`, and typed columns extracted from the JSON by DuckDB. Extraction uses TRY_CAST:
a malformed value becomes NULL in its typed column (dbt tests flag it) instead of failing the whole load,
and the original text stays in `_raw`. Partitioned tables also carry `_partition_date`.

`raw.clockify_issue_task_links` is not loaded from an API: write-back (orchestration/writeback/) writes it.
The dbt sources (`dbt_project/models/staging/*/_*__sources.yml`) list the same tables and columns;
tests/test_raw_contract.py keeps them equal.

All timestamps are stored as naive `TIMESTAMP` in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

# zstd for the record JSON: a third of the file size of DuckDB's default choice and half its write time
# (x1 time entries: 21 MB vs 69 MB, insert 0.57 s vs 1.12 s), scans as fast. Tables created before keep
# their compression; new tables get it.
RAW_COMPRESSION = " USING COMPRESSION zstd"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # VARCHAR, BOOLEAN, INTEGER, DOUBLE, TIMESTAMP (UTC), DATE, VARCHAR[]
    json_path: str  # where the value sits in the record's JSON

    def extract_sql(self, source: str = "_raw") -> str:
        """SQL expression that pulls this column out of the JSON text column `source`."""
        if self.sql_type == "VARCHAR[]":
            return f"json_extract_string({source}, '{self.json_path}[*]')"
        text = f"json_extract_string({source}, '{self.json_path}')"
        if self.sql_type == "VARCHAR":
            return text
        if self.sql_type == "TIMESTAMP":
            # API timestamps carry their offset (`Z`); normalise to naive UTC.
            return f"(TRY_CAST({text} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
        return f"TRY_CAST({text} AS {self.sql_type})"


@dataclass(frozen=True)
class RawTable:
    name: str  # table name inside schema `raw`
    columns: tuple[Column, ...]
    partition_column: str | None = None  # typed column whose UTC date is the daily partition

    @property
    def partitioned(self) -> bool:
        return self.partition_column is not None

    @property
    def qualified_name(self) -> str:
        return f"raw.{self.name}"

    def create_sql(self) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.qualified_name} (\n  " + ",\n  ".join(self.column_defs()) + "\n)"

    def column_defs(self, staging: bool = False) -> list[str]:
        """Column definitions in table order. `staging`: for a load's private staging copy, where rows
        without a partition date are kept (to be counted, then left out) and storage is in memory."""
        not_null = "" if staging else " NOT NULL"
        cols = [f"{c.name} {c.sql_type}" for c in self.columns]
        if self.partitioned:
            cols.append(f"_partition_date DATE{not_null}")
        cols += [f"_raw JSON{'' if staging else RAW_COMPRESSION}", f"_loaded_at TIMESTAMP{not_null}"]
        return cols


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


# --- Clockify ------------------------------------------------------------------------------------

CLOCKIFY_WORKSPACES = RawTable(
    "clockify_workspaces",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        # Billable rates are in cents of the workspace's currency (sandbox/README.md "Rates").
        ("hourly_rate", "DOUBLE", "$.hourlyRate.amount"),
        ("currency", "VARCHAR", "$.hourlyRate.currency"),
    ),
)

CLOCKIFY_USERS = RawTable(
    "clockify_users",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("email", "VARCHAR", "$.email"),
        ("status", "VARCHAR", "$.status"),  # the account's status, not the membership here
        ("workspace_id", "VARCHAR", "$.activeWorkspace"),
        # Read with memberships=WORKSPACE: the one membership listed is this workspace's.
        ("membership_status", "VARCHAR", "$.memberships[0].membershipStatus"),  # ACTIVE | INACTIVE | PENDING...
        ("time_zone", "VARCHAR", "$.settings.timeZone"),  # the person's profile zone (IANA)
        ("hourly_rate", "DOUBLE", "$.memberships[0].hourlyRate.amount"),  # workspace-member rate (cents)
    ),
)

CLOCKIFY_CLIENTS = RawTable(
    "clockify_clients",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("workspace_id", "VARCHAR", "$.workspaceId"),
        ("archived", "BOOLEAN", "$.archived"),
    ),
)

CLOCKIFY_PROJECTS = RawTable(
    "clockify_projects",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("client_id", "VARCHAR", "$.clientId"),
        ("workspace_id", "VARCHAR", "$.workspaceId"),
        ("billable", "BOOLEAN", "$.billable"),
        ("archived", "BOOLEAN", "$.archived"),
        ("hourly_rate", "DOUBLE", "$.hourlyRate.amount"),  # cents; project members' rates stay in _raw
    ),
)

CLOCKIFY_TASKS = RawTable(
    "clockify_tasks",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("project_id", "VARCHAR", "$.projectId"),
        ("status", "VARCHAR", "$.status"),  # ACTIVE | DONE
        ("estimate", "VARCHAR", "$.estimate"),  # ISO-8601 duration, e.g. PT4H
        ("billable", "BOOLEAN", "$.billable"),
        ("hourly_rate", "DOUBLE", "$.hourlyRate.amount"),  # cents
    ),
)

CLOCKIFY_TAGS = RawTable(
    "clockify_tags",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("workspace_id", "VARCHAR", "$.workspaceId"),
        ("archived", "BOOLEAN", "$.archived"),
    ),
)

# Partitioned by the UTC date of `started_at`. Records arrive in the main API's shape
# (the client normalises detailed-report rows to it).
CLOCKIFY_TIME_ENTRIES = RawTable(
    "clockify_time_entries",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("workspace_id", "VARCHAR", "$.workspaceId"),
        ("user_id", "VARCHAR", "$.userId"),
        ("project_id", "VARCHAR", "$.projectId"),
        ("task_id", "VARCHAR", "$.taskId"),
        ("tag_ids", "VARCHAR[]", "$.tagIds"),
        ("description", "VARCHAR", "$.description"),
        ("billable", "BOOLEAN", "$.billable"),
        ("type", "VARCHAR", "$.type"),  # NULL from the report, which does not carry it
        ("started_at", "TIMESTAMP", "$.timeInterval.start"),
        ("ended_at", "TIMESTAMP", "$.timeInterval.end"),  # NULL while the timer runs
        # The report's names ("" for none): they name a user, project or task the lists no longer return.
        ("user_name", "VARCHAR", "$.userName"),
        ("user_email", "VARCHAR", "$.userEmail"),
        ("project_name", "VARCHAR", "$.projectName"),
        ("task_name", "VARCHAR", "$.taskName"),
        ("client_name", "VARCHAR", "$.clientName"),
        # The report's price of the entry: `rate` in cents, `amount` in an open unit (never used for a
        # number); the main API's `hourlyRate.amount` (cents, often null).
        ("rate", "DOUBLE", "$.rate"),
        ("amount", "DOUBLE", "$.amount"),
        ("hourly_rate", "DOUBLE", "$.hourlyRate.amount"),
    ),
    partition_column="started_at",
)

# Capacity (orchestration/clients/clockify/capacity.py). A profile gains the userId it lacks.
CLOCKIFY_MEMBER_PROFILES = RawTable(
    "clockify_member_profiles",
    _cols(
        ("id", "VARCHAR", "$.userId"),  # the person's user id (snapshots key on `id`)
        ("work_capacity", "VARCHAR", "$.workCapacity"),  # ISO-8601 hours per working day, e.g. PT8H
        ("working_days", "VARCHAR[]", "$.workingDays"),  # MONDAY, ...; empty: the workspace's
    ),
)

CLOCKIFY_HOLIDAYS = RawTable(
    "clockify_holidays",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        # YYYY-MM-DD as probed; kept as text, staging reads the first ten characters (a timestamp works too)
        ("start_date", "VARCHAR", "$.datePeriod.startDate"),
        ("end_date", "VARCHAR", "$.datePeriod.endDate"),
        ("everyone", "BOOLEAN", "$.everyoneIncludingNew"),
        ("user_ids", "VARCHAR[]", "$.userIds"),
        ("user_group_ids", "VARCHAR[]", "$.userGroupIds"),
        ("occurs_annually", "BOOLEAN", "$.occursAnnually"),
    ),
)

# User groups, for holidays given to groups (`userGroupIds`): who is in each group.
CLOCKIFY_USER_GROUPS = RawTable(
    "clockify_user_groups",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("user_ids", "VARCHAR[]", "$.userIds"),
    ),
)

CLOCKIFY_TIME_OFF_REQUESTS = RawTable(
    "clockify_time_off_requests",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("user_id", "VARCHAR", "$.userId"),
        ("policy_name", "VARCHAR", "$.policyName"),
        ("status", "VARCHAR", "$.status.statusType"),  # the load asks for APPROVED only
        ("time_unit", "VARCHAR", "$.timeUnit"),  # DAYS | HOURS
        ("period_start", "TIMESTAMP", "$.timeOffPeriod.period.start"),
        ("period_end", "TIMESTAMP", "$.timeOffPeriod.period.end"),
        ("half_day", "BOOLEAN", "$.timeOffPeriod.halfDay"),
        ("user_time_zone", "VARCHAR", "$.userTimeZone"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
    ),
)

# --- Linear --------------------------------------------------------------------------------------

LINEAR_USERS = RawTable(
    "linear_users",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("display_name", "VARCHAR", "$.displayName"),
        ("email", "VARCHAR", "$.email"),
        ("active", "BOOLEAN", "$.active"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
    ),
)

LINEAR_TEAMS = RawTable(
    "linear_teams",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("key", "VARCHAR", "$.key"),
        ("name", "VARCHAR", "$.name"),
        ("timezone", "VARCHAR", "$.timezone"),
        ("cycles_enabled", "BOOLEAN", "$.cyclesEnabled"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
    ),
)

LINEAR_CYCLES = RawTable(
    "linear_cycles",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("team_id", "VARCHAR", "$.team.id"),
        ("number", "INTEGER", "$.number"),
        ("name", "VARCHAR", "$.name"),
        ("starts_at", "TIMESTAMP", "$.startsAt"),
        ("ends_at", "TIMESTAMP", "$.endsAt"),
        ("completed_at", "TIMESTAMP", "$.completedAt"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
    ),
)

LINEAR_PROJECTS = RawTable(
    "linear_projects",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("status", "VARCHAR", "$.status.type"),  # backlog|planned|started|paused|completed|canceled
        ("lead_id", "VARCHAR", "$.lead.id"),
        ("progress", "DOUBLE", "$.progress"),  # 0..1, Linear's completed share of the project's scope
        ("start_date", "DATE", "$.startDate"),
        ("target_date", "DATE", "$.targetDate"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
    ),
)

LINEAR_WORKFLOW_STATES = RawTable(
    "linear_workflow_states",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("team_id", "VARCHAR", "$.team.id"),
        ("name", "VARCHAR", "$.name"),
        ("type", "VARCHAR", "$.type"),  # triage|backlog|unstarted|started|completed|canceled|duplicate
        ("position", "DOUBLE", "$.position"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
    ),
)

# Partitioned by the UTC date of `updated_at`; raw keeps one row per issue, its latest fetched version.
LINEAR_ISSUES = RawTable(
    "linear_issues",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("identifier", "VARCHAR", "$.identifier"),
        ("number", "INTEGER", "$.number"),
        ("title", "VARCHAR", "$.title"),
        ("team_id", "VARCHAR", "$.team.id"),
        ("state_id", "VARCHAR", "$.state.id"),
        ("cycle_id", "VARCHAR", "$.cycle.id"),
        ("project_id", "VARCHAR", "$.project.id"),
        ("assignee_id", "VARCHAR", "$.assignee.id"),
        ("estimate", "DOUBLE", "$.estimate"),
        ("priority", "DOUBLE", "$.priority"),
        ("previous_identifiers", "VARCHAR[]", "$.previousIdentifiers"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
        ("started_at", "TIMESTAMP", "$.startedAt"),
        ("completed_at", "TIMESTAMP", "$.completedAt"),
        ("canceled_at", "TIMESTAMP", "$.canceledAt"),
        ("archived_at", "TIMESTAMP", "$.archivedAt"),
        ("trashed", "BOOLEAN", "$.trashed"),
        ("label_ids", "VARCHAR[]", "$.labelIds"),
    ),
    partition_column="updated_at",
)

# Every issue id Linear still returns, from the reconcile walk (assets/reconcile.py), replaced whole each
# walk: an issue of raw.linear_issues missing here was deleted upstream. `listed_at`: when the walk began.
LINEAR_ISSUE_IDS = RawTable(
    "linear_issue_ids",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("archived_at", "TIMESTAMP", "$.archivedAt"),
        ("trashed", "BOOLEAN", "$.trashed"),
        ("listed_at", "TIMESTAMP", "$.listedAt"),
    ),
)

LINEAR_CUSTOMERS = RawTable(
    "linear_customers",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("domains", "VARCHAR[]", "$.domains"),
        ("revenue", "DOUBLE", "$.revenue"),
        ("size", "DOUBLE", "$.size"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
    ),
)

# Issue history (assets/linear.py, `Issue.history` and `Issue.stateHistory`): one row per IssueHistory record
# and per IssueStateSpan. Each issue's rows are replaced together when its history is read again (after its
# updatedAt moved); `issue_updated_at` is the issue's updatedAt at that read, which tells the next run
# whether the history is still current. The client adds `issue {id updatedAt}` to every record.
LINEAR_ISSUE_HISTORY = RawTable(
    "linear_issue_history",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("issue_id", "VARCHAR", "$.issue.id"),
        ("issue_updated_at", "TIMESTAMP", "$.issue.updatedAt"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
        ("from_state_id", "VARCHAR", "$.fromStateId"),
        ("to_state_id", "VARCHAR", "$.toStateId"),
        ("from_cycle_id", "VARCHAR", "$.fromCycleId"),
        ("to_cycle_id", "VARCHAR", "$.toCycleId"),
        ("from_team_id", "VARCHAR", "$.fromTeamId"),
        ("to_team_id", "VARCHAR", "$.toTeamId"),
        ("from_estimate", "DOUBLE", "$.fromEstimate"),
        ("to_estimate", "DOUBLE", "$.toEstimate"),
        ("from_assignee_id", "VARCHAR", "$.fromAssigneeId"),
        ("to_assignee_id", "VARCHAR", "$.toAssigneeId"),
        ("from_project_id", "VARCHAR", "$.fromProjectId"),
        ("to_project_id", "VARCHAR", "$.toProjectId"),
        ("from_priority", "DOUBLE", "$.fromPriority"),
        ("to_priority", "DOUBLE", "$.toPriority"),
        ("added_label_ids", "VARCHAR[]", "$.addedLabelIds"),
        ("removed_label_ids", "VARCHAR[]", "$.removedLabelIds"),
        ("archived", "BOOLEAN", "$.archived"),  # archived (true) or unarchived (false) here; null: unchanged
        ("trashed", "BOOLEAN", "$.trashed"),
        ("actor_id", "VARCHAR", "$.actorId"),
    ),
)

LINEAR_ISSUE_STATE_SPANS = RawTable(
    "linear_issue_state_spans",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("issue_id", "VARCHAR", "$.issue.id"),
        ("issue_updated_at", "TIMESTAMP", "$.issue.updatedAt"),
        ("state_id", "VARCHAR", "$.stateId"),
        ("started_at", "TIMESTAMP", "$.startedAt"),
        ("ended_at", "TIMESTAMP", "$.endedAt"),  # NULL: the issue is still in this state
    ),
)

LINEAR_LABELS = RawTable(
    "linear_labels",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("name", "VARCHAR", "$.name"),
        ("is_group", "BOOLEAN", "$.isGroup"),
        ("parent_id", "VARCHAR", "$.parent.id"),
        ("team_id", "VARCHAR", "$.team.id"),  # null: a workspace label
        ("archived_at", "TIMESTAMP", "$.archivedAt"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
    ),
)

# Customer needs (a plan feature, like customers): which customer asked for which issue or project.
LINEAR_CUSTOMER_NEEDS = RawTable(
    "linear_customer_needs",
    _cols(
        ("id", "VARCHAR", "$.id"),
        ("customer_id", "VARCHAR", "$.customer.id"),
        ("issue_id", "VARCHAR", "$.issue.id"),
        ("project_id", "VARCHAR", "$.project.id"),
        ("priority", "DOUBLE", "$.priority"),
        ("archived_at", "TIMESTAMP", "$.archivedAt"),
        ("created_at", "TIMESTAMP", "$.createdAt"),
        ("updated_at", "TIMESTAMP", "$.updatedAt"),
    ),
)

# Every table an API asset loads (the raw assets, the CLI's row counts, the dbt test harness).
ALL_TABLES: tuple[RawTable, ...] = (
    CLOCKIFY_WORKSPACES,
    CLOCKIFY_USERS,
    CLOCKIFY_CLIENTS,
    CLOCKIFY_PROJECTS,
    CLOCKIFY_TASKS,
    CLOCKIFY_TAGS,
    CLOCKIFY_TIME_ENTRIES,
    CLOCKIFY_MEMBER_PROFILES,
    CLOCKIFY_HOLIDAYS,
    CLOCKIFY_USER_GROUPS,
    CLOCKIFY_TIME_OFF_REQUESTS,
    LINEAR_USERS,
    LINEAR_TEAMS,
    LINEAR_CYCLES,
    LINEAR_PROJECTS,
    LINEAR_WORKFLOW_STATES,
    LINEAR_ISSUES,
    LINEAR_ISSUE_IDS,
    LINEAR_CUSTOMERS,
    LINEAR_ISSUE_HISTORY,
    LINEAR_ISSUE_STATE_SPANS,
    LINEAR_LABELS,
    LINEAR_CUSTOMER_NEEDS,
)


# --- written by the pipeline ---------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenColumn:
    name: str
    sql_type: str
    not_null: bool = False
    meaning: str = ""


@dataclass(frozen=True)
class WrittenTable:
    """A raw table the pipeline writes row by row itself (no `_raw` JSON), upserted by `key`."""

    name: str
    columns: tuple[WrittenColumn, ...]
    key: str

    @property
    def qualified_name(self) -> str:
        return f"raw.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def create_sql(self) -> str:
        defs = [f"{c.name} {c.sql_type}{' NOT NULL' if c.not_null else ''}" for c in self.columns]
        return f"CREATE TABLE IF NOT EXISTS {self.qualified_name} (\n  " + ",\n  ".join(defs) + "\n)"


CLOCKIFY_ISSUE_TASK_LINKS = WrittenTable(
    "clockify_issue_task_links",
    (
        WrittenColumn("task_id", "VARCHAR", True, "Clockify task (unique: a task belongs to one issue)"),
        WrittenColumn("issue_id", "VARCHAR", True, "Linear issue"),
        WrittenColumn("issue_identifier", "VARCHAR", False, "identifier when last written (informational)"),
        WrittenColumn("project_id", "VARCHAR", False, "the task's Clockify project"),
        WrittenColumn("workspace_id", "VARCHAR", True, "the Clockify workspace"),
        WrittenColumn("task_name", "VARCHAR", False, "the task's name in Clockify as last seen or written"),
        WrittenColumn("status", "VARCHAR", False, "ACTIVE | DONE, as last seen or written"),
        WrittenColumn("linked_at", "TIMESTAMP", True, "when the link was made (UTC)"),
        WrittenColumn("updated_at", "TIMESTAMP", True, "when the row last changed (UTC)"),
    ),
    key="task_id",
)

WRITTEN_TABLES: tuple[WrittenTable, ...] = (CLOCKIFY_ISSUE_TASK_LINKS,)
# The whole raw schema.
CONTRACT: tuple[RawTable | WrittenTable, ...] = (*ALL_TABLES, *WRITTEN_TABLES)
