"""`warehouse serve` (orchestration/serve.py) over real HTTP: uvicorn on a free loopback port, the published
marts file underneath. Listing, filters, sorting, paging; bad parameters are a clear 400 (never a 500);
reads during publishes see the old or the new marts, never an error."""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
import requests

from orchestration.serve import MAX_LIMIT, create_app
from orchestration.warehouse.publish import publish_marts

REPO = Path(__file__).resolve().parent.parent
PEOPLE = ["Ada", "Grace", "Linus", "Ken"]
DAY0 = dt.date(2024, 6, 3)


def entry(i: int, version: int) -> dict:
    return {
        "entry_id": i,
        "version": version,
        "hours": round(0.25 * (i % 9) + version, 2),
        "person": PEOPLE[i % 4],
        "billable": i % 3 == 0,
        "day": DAY0 + dt.timedelta(days=i % 10),
        "started_at": dt.datetime(2024, 6, 3, 8) + dt.timedelta(hours=i),
        "tags": ["urgent", "bug"] if i % 5 == 0 else ["feature"],
        "note": None if i % 4 == 0 else f"Note {i} about ENG-{i % 7}",
    }


def write_marts(path: Path, version: int, rows: int = 150) -> list[dict]:
    entries = [entry(i, version) for i in range(rows + version)]
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(
            "CREATE OR REPLACE TABLE marts.entries (entry_id INTEGER, version INTEGER, hours DOUBLE, person VARCHAR, "
            "billable BOOLEAN, day DATE, started_at TIMESTAMP, tags VARCHAR[], note VARCHAR)"
        )
        con.executemany(
            "INSERT INTO marts.entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [list(e.values()) for e in entries]
        )
        con.execute(
            "CREATE OR REPLACE TABLE marts.totals AS SELECT max(version) AS version, count(*) AS entry_count, "
            "sum(hours) AS total_hours FROM marts.entries"
        )
        con.execute("COMMENT ON TABLE marts.entries IS 'One row per entry.'")
        con.execute("COMMENT ON COLUMN marts.entries.hours IS 'Hours logged.'")
    return entries


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Server:
    """uvicorn serving create_app(path) in a thread, on a socket bound to a free loopback port."""

    def __init__(self, marts_path: Path):
        import uvicorn

        self.sock = free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(marts_path), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()

    def get(self, path: str, **params):
        return requests.get(self.url + path, params=params, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("serve")
    warehouse = directory / "warehouse.duckdb"
    entries = write_marts(warehouse, 1)
    result = publish_marts(warehouse)
    with Server(result.path) as server:
        yield server, entries, result


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def iso(value):
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def test_list_marts(served):
    server, entries, result = served
    body = server.get("/marts").json()
    assert body["published_at"] == result.published_at.isoformat() + "Z"
    marts = {m["name"]: m for m in body["marts"]}
    assert set(marts) == {"entries", "totals"}  # not the bookkeeping table _published
    assert marts["entries"]["rows"] == len(entries) and marts["entries"]["comment"] == "One row per entry."
    columns = {c["name"]: c for c in marts["entries"]["columns"]}
    assert list(columns) == list(entries[0])
    assert columns["hours"] == {"name": "hours", "type": "DOUBLE", "comment": "Hours logged."}
    assert columns["tags"]["type"] == "VARCHAR[]" and columns["note"]["comment"] is None
    assert server.get("/health").json() == {"status": "ok", "published_at": body["published_at"]}


def test_read_a_mart_with_stable_pages(served):
    server, entries, _ = served
    first = server.get("/marts/entries").json()
    assert first["total"] == len(entries) and first["limit"] == 100 and len(first["rows"]) == 100
    assert first["rows"][0] == {k: iso(v) for k, v in entries[0].items()}  # JSON: ISO dates, lists, nulls
    pages = [rows(server.get("/marts/entries", limit=40, offset=offset)) for offset in range(0, len(entries), 40)]
    assert [r["entry_id"] for page in pages for r in page] == [e["entry_id"] for e in entries]
    ordered = rows(server.get("/marts/entries", order_by="-hours,person", columns="entry_id,hours,person", limit=500))
    expected = sorted(entries, key=lambda e: (-e["hours"], e["person"], e["entry_id"]))
    assert [r["entry_id"] for r in ordered] == [e["entry_id"] for e in expected]
    assert set(ordered[0]) == {"entry_id", "hours", "person"}


@pytest.mark.parametrize(
    "params, keep",
    [
        ({"person": "Ada"}, lambda e: e["person"] == "Ada"),
        ({"person": ["Ada", "Ken"]}, lambda e: e["person"] in ("Ada", "Ken")),  # repeated: any of
        ({"hours__gt": "2.5"}, lambda e: e["hours"] > 2.5),
        ({"hours__gte": "2.5", "hours__lt": "3"}, lambda e: 2.5 <= e["hours"] < 3),
        ({"entry_id__lte": "7", "person__ne": "Ada"}, lambda e: e["entry_id"] <= 7 and e["person"] != "Ada"),
        ({"billable": "true"}, lambda e: e["billable"]),
        ({"day": "2024-06-05"}, lambda e: e["day"] == dt.date(2024, 6, 5)),
        ({"started_at__gte": "2024-06-05 10:00:00"}, lambda e: e["started_at"] >= dt.datetime(2024, 6, 5, 10)),
        ({"note__contains": "eng-3"}, lambda e: e["note"] is not None and "ENG-3" in e["note"]),
        ({"tags__contains": "bug"}, lambda e: "bug" in e["tags"]),
        ({"note__null": "true"}, lambda e: e["note"] is None),
        ({"note__null": "false", "person": "Linus"}, lambda e: e["note"] is not None and e["person"] == "Linus"),
        ({"person": "x' OR '1'='1"}, lambda e: False),  # a value is a bound parameter, never SQL
    ],
)
def test_filters(served, params, keep):
    server, entries, _ = served
    body = server.get("/marts/entries", limit=MAX_LIMIT, **params).json()
    expected = [e["entry_id"] for e in entries if keep(e)]
    assert body["total"] == len(expected)
    assert [r["entry_id"] for r in body["rows"]] == expected


@pytest.mark.parametrize(
    "path, params, status, message",
    [
        ("/marts/entries", {"nope": "1"}, 400, r"'nope' is not a column of entries: use one of entry_id, version"),
        ("/marts/entries", {"hours__like": "1"}, 400, r"unknown operator 'like': use one of contains, eq, gt"),
        ("/marts/entries", {"hours": "abc"}, 400, r"hours='abc' is not a valid DOUBLE"),
        ("/marts/entries", {"day__gt": "June"}, 400, r"day__gt='June' is not a valid DATE"),
        ("/marts/entries", {"hours__contains": "1"}, 400, r"contains works on text and lists"),
        ("/marts/entries", {"tags": "bug"}, 400, r"tags is a list .*tags__contains"),
        ("/marts/entries", {"note__null": "maybe"}, 400, r"note__null must be true or false"),
        ("/marts/entries", {"limit": "0"}, 400, r"limit=0 is out of range: it must be between 1 and 10000"),
        ("/marts/entries", {"limit": str(MAX_LIMIT + 1)}, 400, r"out of range"),
        ("/marts/entries", {"limit": "ten"}, 400, r"limit='ten' is not an integer"),
        ("/marts/entries", {"limit": ["1", "2"]}, 400, r"limit is given 2 times"),
        ("/marts/entries", {"offset": "-1"}, 400, r"offset=-1 is out of range: it must be at least 0"),
        ("/marts/entries", {"order_by": "-nope"}, 400, r"order_by 'nope' is not a column"),
        ("/marts/entries", {"columns": "hours,1;drop"}, 400, r"Column '1;drop' is not a column"),
        ("/marts/entries", {'hours"; DROP TABLE x; --': "1"}, 400, r"is not a column of entries"),
        ("/marts/_published", {}, 404, r"No mart '_published': GET /marts lists them \(entries, totals\)"),
        ("/marts/nope", {}, 404, r"No mart 'nope'"),
    ],
)
def test_bad_parameters_are_clear_errors_never_500(served, path, params, status, message):
    server, _, _ = served
    response = server.get(path, **params)
    assert response.status_code == status, response.text
    assert re.search(message, response.json()["error"]), response.json()
    assert server.get("/marts/entries", limit=1).status_code == 200  # and the server goes on


def test_no_published_file_yet_is_a_503_until_the_first_publish(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    target = tmp_path / "marts.duckdb"
    with Server(target) as server:
        for path in ("/health", "/marts", "/marts/entries"):
            response = server.get(path)
            assert response.status_code == 503 and "run a sync" in response.json()["error"]
        write_marts(warehouse, 1)
        publish_marts(warehouse, target)
        assert server.get("/marts/totals").json()["rows"][0]["version"] == 1


def test_reads_during_publishes_see_old_or_new_marts_never_an_error(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(warehouse, 1)
    target = publish_marts(warehouse).path
    stop, failures, inconsistent, seen = threading.Event(), [], [], set()

    def client(server):
        session = requests.Session()
        while not stop.is_set():
            try:
                response = session.get(
                    server.url + "/marts/entries", params={"columns": "version", "limit": 1}, timeout=30
                )
                if response.status_code != 200:
                    failures.append((response.status_code, response.text))
                    continue
                body = response.json()
                version = body["rows"][0]["version"]
                if body["total"] != 150 + version:  # the count and the rows come from one publish
                    inconsistent.append(body)
                seen.add(version)
            except Exception as error:
                failures.append(repr(error))

    with Server(target) as server:
        threads = [threading.Thread(target=client, args=(server,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            for version in range(2, 6):
                write_marts(warehouse, version)
                publish_marts(warehouse)
                time.sleep(0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert failures == [] and inconsistent == []
        assert len(seen) >= 3, seen
        # Each request opens the file anew: right after a publish, the next request has the new marts.
        assert server.get("/marts/totals").json()["rows"][0]["version"] == 5


def listening_addresses(port: int) -> list[str]:
    """IPv4 addresses listening on `port`, from the kernel's table (Linux)."""
    addresses = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            addresses.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return addresses


def test_warehouse_serve_binds_to_loopback_by_default(served, tmp_path):
    _, _, result = served
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "serve", "--port", str(port), "--marts", str(result.path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, response = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert response is not None and response.status_code == 200, proc.poll()
        assert requests.get(f"http://127.0.0.1:{port}/marts/totals", timeout=5).json()["rows"][0]["version"] == 1
        assert requests.post(f"http://127.0.0.1:{port}/marts/totals", timeout=5).status_code == 405  # read-only
        assert listening_addresses(port) == ["127.0.0.1"]  # not 0.0.0.0: other machines cannot connect
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert f"Serving {result.path} read-only on http://127.0.0.1:{port}/marts" in output


def test_a_duckdb_file_without_publish_bookkeeping_is_served_too(tmp_path):
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE things AS SELECT range AS id FROM range(3)")
    with Server(path) as server:
        body = server.get("/marts").json()
        assert body["published_at"] is None and [m["name"] for m in body["marts"]] == ["things"]
        assert [r["id"] for r in rows(server.get("/marts/things", id__gte="1"))] == [1, 2]
