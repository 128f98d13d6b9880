"""Raw Clockify assets: the workspace's dimensions and its time entries, by day."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    asset,
)

from assets.common import DUCKDB_POOL, OWNERS, raw_key, refresh_snapshot, snapshot_asset
from assets.resume import load_time_entries
from orchestration.clients.clockify import capacity
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.partitions import ReconcileOptions
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse

clockify_workspaces = snapshot_asset(
    t.CLOCKIFY_WORKSPACES,
    "clockify",
    "clockify",
    lambda c: c.workspaces(),
    "Clockify workspaces the API key can see.",
)
clockify_users = snapshot_asset(
    t.CLOCKIFY_USERS,
    "clockify",
    "clockify",
    lambda c: c.users(),
    "Members of the Clockify workspace.",
)
clockify_clients = snapshot_asset(
    t.CLOCKIFY_CLIENTS,
    "clockify",
    "clockify",
    lambda c: c.clients(),
    "Clockify clients (customers that projects belong to).",
)
clockify_projects = snapshot_asset(
    t.CLOCKIFY_PROJECTS,
    "clockify",
    "clockify",
    lambda c: c.projects(),
    "Clockify projects, archived ones included.",
)
clockify_tags = snapshot_asset(
    t.CLOCKIFY_TAGS,
    "clockify",
    "clockify",
    lambda c: c.tags(),
    "Clockify tags.",
)


@asset(
    key=raw_key(t.CLOCKIFY_TASKS),
    group_name="clockify",
    description="Clockify tasks of every project, read from the hydrated project list (one request per "
    "page of projects; a project listed without tasks is read on its own). Task names like "
    "`ENG-42: Fix login` are the strongest link from time to a Linear issue.",
    kinds={"clockify", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    deps=[raw_key(t.CLOCKIFY_PROJECTS)],
    output_required=False,  # a first load stopped by the budget (assets/common.py refresh_snapshot)
)
def clockify_tasks(context: AssetExecutionContext, clockify: ClockifyClient, warehouse: Warehouse):
    # Projects were just loaded upstream: read their ids instead of listing them from the API again.
    with warehouse.connect() as con:
        project_ids = [r[0] for r in con.execute(f"SELECT id FROM {t.CLOCKIFY_PROJECTS.qualified_name}").fetchall()]
    yield from refresh_snapshot(
        context, clockify, warehouse, t.CLOCKIFY_TASKS, "clockify", lambda: clockify.hydrated_tasks(project_ids)
    )


NO_TIME_OFF_NOTE = (
    "This Clockify workspace's plan (or key) has no {what}: nothing was loaded, and "
    "marts.capacity_per_person_week subtracts no {what} from anyone's expected hours."
)
clockify_holidays = snapshot_asset(
    t.CLOCKIFY_HOLIDAYS,
    "clockify",
    "clockify",
    capacity.holidays,
    "Clockify holidays (everyone's, or some people's; some repeat every year). Time off and holidays are a plan "
    "feature: without it the asset says so in its metadata and loads nothing.",
    plan_feature=True,
    unavailable_note=NO_TIME_OFF_NOTE.format(what="holidays"),
)
clockify_user_groups = snapshot_asset(
    t.CLOCKIFY_USER_GROUPS,
    "clockify",
    "clockify",
    capacity.user_groups,
    "Clockify user groups and their members: a holiday given to a group is for its members. Where the plan (or "
    "key) has no groups the asset says so in its metadata and loads nothing.",
    plan_feature=True,
    unavailable_note="This Clockify workspace's plan (or key) has no user groups: nothing was loaded, and a "
    "holiday given only to groups is for no one in marts.capacity_per_person_week.",
)
clockify_time_off_requests = snapshot_asset(
    t.CLOCKIFY_TIME_OFF_REQUESTS,
    "clockify",
    "clockify",
    capacity.approved_time_off,
    "Approved Clockify time-off requests (days, half days or hours off). A plan feature: without it the asset "
    "says so in its metadata and loads nothing.",
    plan_feature=True,
    unavailable_note=NO_TIME_OFF_NOTE.format(what="time off"),
)


@asset(
    key=raw_key(t.CLOCKIFY_MEMBER_PROFILES),
    group_name="clockify",
    description="Each member's Clockify profile: work capacity (hours per working day) and working days, one "
    "request per person. Where profiles cannot be read (the Free plan's budget, or refused) the table is empty "
    "and the workspace's working days and WAREHOUSE_WORKDAY_HOURS apply.",
    kinds={"clockify", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    deps=[raw_key(t.CLOCKIFY_USERS)],
    output_required=False,  # a first load stopped by the budget (assets/common.py refresh_snapshot)
)
def clockify_member_profiles(context: AssetExecutionContext, clockify: ClockifyClient, warehouse: Warehouse):
    # The users were just loaded upstream: read their ids instead of listing them again.
    with warehouse.connect() as con:
        user_ids = [
            r[0]
            for r in con.execute(f"SELECT DISTINCT id FROM {t.CLOCKIFY_USERS.qualified_name} ORDER BY id").fetchall()
        ]
    yield from refresh_snapshot(
        context,
        clockify,
        warehouse,
        t.CLOCKIFY_MEMBER_PROFILES,
        "clockify",
        lambda: capacity.member_profiles(clockify, user_ids),
        plan_feature=True,
        unavailable_note="No member profiles: everyone works the workspace's working days, "
        "WAREHOUSE_WORKDAY_HOURS a day.",
    )


def build_clockify_time_entries(partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    """The time-entry asset on the daily partitions of the run's Settings (WAREHOUSE_START_DATE)."""

    @asset(
        key=raw_key(t.CLOCKIFY_TIME_ENTRIES),
        group_name="clockify",
        description="Clockify time entries, partitioned by the UTC date of their start. Loading a range "
        "replaces exactly those days, so edits and deletions upstream are corrected on reload. A backfill "
        "runs as one run per range with ranged API calls. Old days the changes feed says changed are reloaded "
        "too (or, without the feed, the last months every week). When the API budget runs out (Clockify's "
        "Free plan: 30 requests/hour) the run commits the whole days it has, materialises exactly those "
        "partitions and leaves the rest pending: the next run continues there (metadata `left`, `resumes_at`).",
        kinds={"clockify", "duckdb"},
        owners=OWNERS,
        pool=DUCKDB_POOL,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        output_required=False,  # a budget stop materialises only the partitions it loaded (assets/resume.py)
    )
    def clockify_time_entries(
        context: AssetExecutionContext, clockify: ClockifyClient, warehouse: Warehouse, reconcile: ReconcileOptions
    ):
        # Generators over the report's pages: the warehouse stages them as they arrive (bounded memory).
        yield from load_time_entries(context, clockify, warehouse, reconcile)

    return clockify_time_entries


CLOCKIFY_SNAPSHOTS = [
    clockify_workspaces,
    clockify_users,
    clockify_clients,
    clockify_projects,
    clockify_tasks,
    clockify_tags,
    clockify_member_profiles,
    clockify_holidays,
    clockify_user_groups,
    clockify_time_off_requests,
]


def build_clockify_assets(partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    return [*CLOCKIFY_SNAPSHOTS, build_clockify_time_entries(partitions)]
