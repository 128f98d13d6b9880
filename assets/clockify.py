"""Raw Clockify assets: the workspace's dimensions and its time entries, by day."""

import datetime as dt
import json
from collections import defaultdict

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    Config,
    DailyPartitionsDefinition,
    asset,
)
from pydantic import Field

from assets.common import DUCKDB_POOL, OWNERS, api_now, raw_key, refresh_snapshot, snapshot_asset
from assets.resume import load_time_entries
from orchestration.clients.clockify import capacity, rotation
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.partitions import ReconcileOptions
from orchestration.timeutil import parse_timestamp
from orchestration.warehouse import ledger
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse

clockify_users = snapshot_asset(
    t.CLOCKIFY_USERS,
    "clockify",
    "clockify",
    lambda c: c.users(),
    "Members of the Clockify workspace.",
)
clockify_projects = snapshot_asset(
    t.CLOCKIFY_PROJECTS,
    "clockify",
    "clockify",
    lambda c: c.projects(hydrated=True),
    "Clockify projects, archived ones included, each record with the `tasks` the hydrated list embeds "
    "(raw.clockify_tasks reads them from here rather than listing the projects again).",
)


class RotationConfig(Config):
    """Run config of the assets that re-read only a share of their records each run (rotation.py)."""

    refresh_all: bool = Field(
        default=False,
        description="Read every record again (else: those never read, and the share of the refresh period due "
        "today, so that each list is read again within CLOCKIFY_REFRESH_DAYS, each member profile and DONE-task "
        "listing within CLOCKIFY_RECORD_REFRESH_DAYS).",
    )


# ops state: when each record of a rotating read was last read ({id: ISO timestamp, UTC})
DONE_TASKS_READ_KEY = "reads:clockify_done_tasks"
PROFILES_READ_KEY = "reads:clockify_member_profiles"


def _previous(con, table: t.RawTable) -> list[dict]:
    """The records of the table's last load (none before the first)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = $name",
        {"name": table.name},
    ).fetchone()[0]
    if not exists:
        return []
    return [json.loads(r[0]) for r in con.execute(f"SELECT _raw FROM {table.qualified_name}").fetchall()]


def _rotation_state(
    context: AssetExecutionContext,
    config: RotationConfig,
    key: str,
    con,
    ids: list[str],
    now,
    refresh_days: int,
    held=None,
) -> tuple[dict, list[str] | None]:
    """(the read times kept, the ids due in this run: None reads all). `held`: the ids whose record the
    table holds, where only those count as read."""
    read_at = ledger.get_state(con, key, {}) or {}
    if held is not None:
        read_at = {i: when for i, when in read_at.items() if i in held}
    if config.refresh_all:
        context.log.info("%s: refresh_all: every one is read", key)
        return read_at, None
    return read_at, rotation.due(ids, read_at, now, refresh_days)


# The lists that change rarely, read in turn (rotation.py: each again within CLOCKIFY_REFRESH_DAYS, about one
# a day), or at once when what was just read names a record they lack. Users (new members' zones put their
# hours on their own days), projects and their tasks (task names link time to issues) and time off are read
# every run. When each list was read: its snapshot state (assets/common.py refresh_snapshot).
ROTATING_LISTS = (
    t.CLOCKIFY_WORKSPACES,
    t.CLOCKIFY_CLIENTS,
    t.CLOCKIFY_TAGS,
    t.CLOCKIFY_HOLIDAYS,
    t.CLOCKIFY_USER_GROUPS,
)


def _ids(con, table: t.RawTable, field: str) -> set[str]:
    """The ids named in `field` (a string, or a list of them) of the records the table holds."""
    found: set[str] = set()
    for record in _previous(con, table):
        value = record.get(field)
        found.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v)
    return found


def _clients_needed(con) -> str | None:
    missing = _ids(con, t.CLOCKIFY_PROJECTS, "clientId") - _ids(con, t.CLOCKIFY_CLIENTS, "id")
    return f"projects name {len(missing)} client(s) the table lacks" if missing else None


def _groups_needed(con) -> str | None:
    missing = _ids(con, t.CLOCKIFY_HOLIDAYS, "userGroupIds") - _ids(con, t.CLOCKIFY_USER_GROUPS, "id")
    return f"holidays name {len(missing)} user group(s) the table lacks" if missing else None


def _due_in_turn(con, now, refresh_days: int) -> list[str]:
    """Which of the lists (and the full read of time off) are due today, by when each was last read."""
    read_at = {}
    for table in ROTATING_LISTS:
        stamp = ledger.get_state(con, f"snapshot:{table.name}")
        if stamp:
            read_at[table.name] = stamp
    if stamp := ledger.get_state(con, TIME_OFF_FULL_KEY):
        read_at[TIME_OFF_FULL] = stamp
    return rotation.due([*(x.name for x in ROTATING_LISTS), TIME_OFF_FULL], read_at, now, refresh_days)


def _list_kept(table: t.RawTable, config: RotationConfig, clockify: ClockifyClient, needed=None):
    """`keep` for refresh_snapshot: why the table loaded before serves this run, or None to read it."""
    now = api_now(clockify)

    def keep(con) -> str | None:
        if config.refresh_all or table.name in _due_in_turn(con, now, clockify.refresh_days):
            return None
        if needed is not None and needed(con):
            return None
        return f"read in turn, each list again within {clockify.refresh_days} days (CLOCKIFY_REFRESH_DAYS)"

    return keep


def rotating_list(
    table: t.RawTable,
    fetch,
    description: str,
    deps=(),
    needed=None,
    plan_feature: bool = False,
    unavailable_note: str | None = None,
) -> AssetsDefinition:
    """A snapshot asset of a rarely changing Clockify list, read in turn (ROTATING_LISTS)."""

    @asset(
        key=raw_key(table),
        group_name="clockify",
        description=f"{description} Read in turn with the other rarely changing lists, each again within "
        "CLOCKIFY_REFRESH_DAYS days (`refresh_all: true` in the run config reads it now).",
        kinds={"clockify", "duckdb"},
        owners=OWNERS,
        pool=DUCKDB_POOL,
        deps=list(deps),
        output_required=False,  # a first load stopped by the budget has no table to offer
    )
    def _list(context: AssetExecutionContext, config: RotationConfig, clockify: ClockifyClient, warehouse: Warehouse):
        yield from refresh_snapshot(
            context,
            clockify,
            warehouse,
            table,
            "clockify",
            lambda: fetch(clockify),
            plan_feature,
            unavailable_note,
            keep=_list_kept(table, config, clockify, needed),
        )

    return _list


clockify_workspaces = rotating_list(
    t.CLOCKIFY_WORKSPACES, lambda c: c.workspaces(), "Clockify workspaces the API key can see."
)
clockify_clients = rotating_list(
    t.CLOCKIFY_CLIENTS,
    lambda c: c.clients(),
    "Clockify clients (customers that projects belong to); read at once when a project names a client the table lacks.",
    deps=[raw_key(t.CLOCKIFY_PROJECTS)],
    needed=_clients_needed,
)
clockify_tags = rotating_list(t.CLOCKIFY_TAGS, lambda c: c.tags(), "Clockify tags.")


@asset(
    key=raw_key(t.CLOCKIFY_TASKS),
    group_name="clockify",
    description="Clockify tasks of every project, from the hydrated project list raw.clockify_projects holds "
    "(a project listed without tasks is read on its own). Where that list shows no DONE task (an open "
    "fact), each project's DONE tasks are listed for new projects, for those a task vanished from, and for "
    "a share a day, each again within CLOCKIFY_RECORD_REFRESH_DAYS days (`refresh_all: true` in the "
    "run config lists all); the others' are kept from the last read. Task names like "
    "`ENG-42: Fix login` are the strongest link from time to a Linear issue.",
    kinds={"clockify", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    deps=[raw_key(t.CLOCKIFY_PROJECTS)],
    output_required=False,  # a first load stopped by the budget (assets/common.py refresh_snapshot)
)
def clockify_tasks(
    context: AssetExecutionContext, config: RotationConfig, clockify: ClockifyClient, warehouse: Warehouse
):
    # Projects were just loaded upstream, hydrated: their tasks are read from there, not listed again.
    now = api_now(clockify)
    with warehouse.connect() as con:
        projects = _previous(con, t.CLOCKIFY_PROJECTS)
        project_ids = [p["id"] for p in projects if p.get("id")]
        previous: dict[str, list[dict]] = defaultdict(list)
        for task in _previous(con, t.CLOCKIFY_TASKS):
            previous[task.get("projectId") or ""].append(task)
        read_at, due = _rotation_state(
            context, config, DONE_TASKS_READ_KEY, con, project_ids, now, clockify.record_refresh_days
        )
    state: dict[str, str] = {}

    def fetch():
        # A DONE listing per project only where the hydrated list may hide DONE tasks (an open fact):
        # for the projects due, and where a task listed before is gone (client.read_tasks).
        read = clockify.read_tasks(project_ids, previous=previous, done_due=due, hydrated_projects=projects)
        state.update(rotation.after_reads(project_ids, read_at, read.done_read, now))
        return read.tasks

    yield from refresh_snapshot(
        context,
        clockify,
        warehouse,
        t.CLOCKIFY_TASKS,
        "clockify",
        fetch,
        also_write=lambda con: ledger.set_state(con, DONE_TASKS_READ_KEY, state, now),
    )


NO_TIME_OFF_NOTE = (
    "This Clockify workspace's plan (or key) has no {what}: nothing was loaded, and "
    "marts.capacity_per_person_week subtracts no {what} from anyone's expected hours."
)
clockify_holidays = rotating_list(
    t.CLOCKIFY_HOLIDAYS,
    capacity.holidays,
    "Clockify holidays (everyone's, or some people's; some repeat every year). Time off and holidays are a plan "
    "feature: without it the asset says so in its metadata and loads nothing.",
    plan_feature=True,
    unavailable_note=NO_TIME_OFF_NOTE.format(what="holidays"),
)
clockify_user_groups = rotating_list(
    t.CLOCKIFY_USER_GROUPS,
    capacity.user_groups,
    "Clockify user groups and their members: a holiday given to a group is for its members (read at once when "
    "a holiday names a group the table lacks). Where the plan (or key) has no groups the asset says so in its "
    "metadata and loads nothing.",
    deps=[raw_key(t.CLOCKIFY_HOLIDAYS)],
    needed=_groups_needed,
    plan_feature=True,
    unavailable_note="This Clockify workspace's plan (or key) has no user groups: nothing was loaded, and a "
    "holiday given only to groups is for no one in marts.capacity_per_person_week.",
)
# When every time-off request was last read (ISO, UTC); a daily run reads only those created in the last
# TIME_OFF_RECENT_DAYS (new ones, and those approved or withdrawn soon after being asked for: one page for a
# team of 200, where the whole history grows by pages a year), and all of them in turn with the lists.
TIME_OFF_FULL_KEY = "reads:clockify_time_off_full"
TIME_OFF_FULL = "clockify_time_off_requests (all)"  # its id in the lists' turn
TIME_OFF_RECENT_DAYS = 90


def _created_since(record: dict, since: dt.datetime) -> bool:
    created = parse_timestamp(record.get("createdAt"))
    return created is not None and created >= since


@asset(
    key=raw_key(t.CLOCKIFY_TIME_OFF_REQUESTS),
    group_name="clockify",
    description="Approved Clockify time-off requests (days, half days or hours off). A daily run reads those "
    f"created in the last {TIME_OFF_RECENT_DAYS} days (the others as last read), and every one in turn with "
    "the rarely changing lists, again within CLOCKIFY_REFRESH_DAYS days (`refresh_all: true` in the run config "
    "reads all now). A plan feature: without it the asset says so in its metadata and loads nothing.",
    kinds={"clockify", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    output_required=False,  # a first load stopped by the budget (assets/common.py refresh_snapshot)
)
def clockify_time_off_requests(
    context: AssetExecutionContext, config: RotationConfig, clockify: ClockifyClient, warehouse: Warehouse
):
    now = api_now(clockify)

    def plan(con):
        full = (
            config.refresh_all
            or not ledger.get_state(con, TIME_OFF_FULL_KEY)
            or TIME_OFF_FULL in _due_in_turn(con, now, clockify.refresh_days)
        )
        return full, _previous(con, t.CLOCKIFY_TIME_OFF_REQUESTS)

    full, previous = warehouse.read(plan)
    since = None if full else now.replace(tzinfo=dt.UTC) - dt.timedelta(days=TIME_OFF_RECENT_DAYS)

    def fetch():
        read = capacity.approved_time_off(clockify, since)
        if since is None:
            return read
        # Requests created since `since` are as just read (one no longer approved is gone); the older ones
        # as last read, until the full read in turn.
        fresh = {r.get("id") for r in read}
        kept = [r for r in previous if r.get("id") not in fresh and not _created_since(r, since)]
        context.log.info("time off: %d requests created since %s read, %d older kept", len(read), since, len(kept))
        return kept + read

    def also_write(con):
        if full:
            ledger.set_state(con, TIME_OFF_FULL_KEY, now.isoformat(), now)

    yield from refresh_snapshot(
        context,
        clockify,
        warehouse,
        t.CLOCKIFY_TIME_OFF_REQUESTS,
        "clockify",
        fetch,
        plan_feature=True,
        unavailable_note=NO_TIME_OFF_NOTE.format(what="time off"),
        also_write=also_write,
    )


@asset(
    key=raw_key(t.CLOCKIFY_MEMBER_PROFILES),
    group_name="clockify",
    description="Each member's Clockify profile: work capacity (hours per working day) and working days, one "
    "request per person read (no list carries them): a run reads new members' profiles and a share of the "
    "others, so each is read again within CLOCKIFY_RECORD_REFRESH_DAYS days (`refresh_all: true` in the run "
    "config reads all). Where profiles cannot be read (the Free plan's budget, or refused) the table is empty "
    "and the workspace's working days and WAREHOUSE_WORKDAY_HOURS apply.",
    kinds={"clockify", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    deps=[raw_key(t.CLOCKIFY_USERS)],
    output_required=False,  # a first load stopped by the budget (assets/common.py refresh_snapshot)
)
def clockify_member_profiles(
    context: AssetExecutionContext, config: RotationConfig, clockify: ClockifyClient, warehouse: Warehouse
):
    # The users were just loaded upstream: read their ids instead of listing them again.
    now = api_now(clockify)
    with warehouse.connect() as con:
        user_ids = [
            r[0]
            for r in con.execute(f"SELECT DISTINCT id FROM {t.CLOCKIFY_USERS.qualified_name} ORDER BY id").fetchall()
        ]
        previous = {p.get("userId"): p for p in _previous(con, t.CLOCKIFY_MEMBER_PROFILES)}
        read_at, due = _rotation_state(
            context, config, PROFILES_READ_KEY, con, user_ids, now, clockify.record_refresh_days, held=previous
        )
    state: dict[str, str] = {}  # stays empty when the plan has no profiles (the table is loaded empty)

    def fetch():
        wanted = user_ids if due is None else due
        read = {p["userId"]: p for p in capacity.member_profiles(clockify, wanted)}
        context.log.info("%d of %d member profiles read (the others as last read)", len(read), len(user_ids))
        state.update(rotation.after_reads(user_ids, read_at, read, now))
        return [read[u] if u in read else previous[u] for u in user_ids if u in read or u in previous]

    yield from refresh_snapshot(
        context,
        clockify,
        warehouse,
        t.CLOCKIFY_MEMBER_PROFILES,
        "clockify",
        fetch,
        plan_feature=True,
        unavailable_note="No member profiles: everyone works the workspace's working days, "
        "WAREHOUSE_WORKDAY_HOURS a day.",
        also_write=lambda con: ledger.set_state(con, PROFILES_READ_KEY, state, now),
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
