"""Clockify writes for write-back (orchestration/writeback/): create clients, projects and tasks, update tasks.

A POST is not idempotent: when its answer is lost (5xx, read timeout, reset, cut body) the object may exist
anyway. So a create goes through the one retry loop with a `recover` hook: before anything is resent the
list is re-read, and an object with the requested name (Clockify names are unique per workspace ignoring
case) is returned instead of creating a duplicate. It is resent blindly only when the request provably did
not take effect (HTTP 429, or a connection that never opened). A PUT sets the same fields to the same
values however often it is sent, so it retries like a read.

`ClockifyWrites` is mixed into `ClockifyClient` (client.py), whose reads and plumbing it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from orchestration.clients.clockify.normalize import named
from orchestration.clients.clockify.records import ClockifyClientRecord, ClockifyProject, ClockifyTask

if TYPE_CHECKING:  # the client this is mixed into
    from orchestration.clients.clockify.client import ClockifyClient


class ClockifyWrites:
    def create_client(self: ClockifyClient, name: str) -> ClockifyClientRecord:
        """POST /workspaces/{ws}/clients {"name"}: the created client."""
        return cast(ClockifyClientRecord, _create(self, "/clients", {"name": name}, self.clients))

    def create_project(self: ClockifyClient, name: str, client_id: str | None = None) -> ClockifyProject:
        """POST /workspaces/{ws}/projects {"name", "clientId", "isPublic": true}: the created project."""
        body: dict[str, Any] = {"name": name, "isPublic": True}
        if client_id:
            body["clientId"] = client_id
        return cast(ClockifyProject, _create(self, "/projects", body, self.projects))

    def create_task(self: ClockifyClient, project_id: str, name: str) -> ClockifyTask:
        """POST /workspaces/{ws}/projects/{pid}/tasks {"name"}: the created task (status ACTIVE)."""
        task = _create(self, f"/projects/{project_id}/tasks", {"name": name}, lambda: self.tasks([project_id]))
        task.setdefault("projectId", project_id)
        return cast(ClockifyTask, task)

    def update_task(self: ClockifyClient, project_id: str, task_id: str, name: str, status: str) -> ClockifyTask:
        """PUT /workspaces/{ws}/projects/{pid}/tasks/{tid} {"name", "status"} (Clockify requires the name)."""
        url = self._api_url(self._ws_path(f"/projects/{project_id}/tasks/{task_id}"))
        task = self.http.request(
            "PUT", url, json={"name": name, "status": status}, check=self._check, url_setting="CLOCKIFY_API_URL"
        )
        task.setdefault("projectId", project_id)
        return cast(ClockifyTask, task)


def _create(
    client: ClockifyClient, path: str, body: dict[str, Any], existing: Callable[[], list[Any]]
) -> dict[str, Any]:
    """POST `body` to the workspace's `path`; after an ambiguous failure, the record named like it (if any)."""
    name = body["name"]
    return client.http.request(
        "POST",
        client._api_url(client._ws_path(path)),
        json=body,
        check=client._check,
        url_setting="CLOCKIFY_API_URL",
        recover=lambda: named(existing(), name),
        what=repr(name),
    )
