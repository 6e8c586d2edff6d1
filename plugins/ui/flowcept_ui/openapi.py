"""The OpenAPI 3.1 document of the JSON API (served at ``/api/openapi.json``)."""

from __future__ import annotations

from flowcept_ui import __version__
from flowcept_ui.params import MAX_LIMIT, TASK_SORT_FIELDS, WORKFLOW_SORT_FIELDS

__all__ = ["openapi_document"]


def _param(name: str, desc: str, where: str = "query", schema: dict | None = None, required: bool = False) -> dict:
    return {
        "name": name,
        "in": where,
        "description": desc,
        "required": required or where == "path",
        "schema": schema or {"type": "string"},
    }


_PAGE = [
    _param("limit", f"page size, 1..{MAX_LIMIT}", schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    _param("offset", "items to skip", schema={"type": "integer", "minimum": 0, "default": 0}),
]
_TIME = "Unix seconds or ISO 8601 (UTC when no zone)"


def _ok(desc: str, ref: str) -> dict:
    return {
        "200": {"description": desc, "content": {"application/json": {"schema": {"$ref": ref}}}},
        "400": {"$ref": "#/components/responses/Error"},
        "404": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"},
    }


def openapi_document() -> dict:
    """The document; paths, parameters and response shapes of every API route."""
    wid = _param("workflow_id", "the workflow's id", "path")
    paths = {
        "/api/workflows": {
            "get": {
                "summary": "Workflows, newest first by default; search by name, user, campaign and start time",
                "parameters": [
                    _param("name", "part of the name, any case"),
                    _param("user", "exact user"),
                    _param("campaign_id", "exact campaign id"),
                    _param("since", f"started at or after; {_TIME}"),
                    _param("until", f"started at or before; {_TIME}"),
                    _param(
                        "sort",
                        "field, '-' prefix for descending",
                        schema={
                            "type": "string",
                            "enum": [*WORKFLOW_SORT_FIELDS, *(f"-{f}" for f in WORKFLOW_SORT_FIELDS)],
                        },
                    ),
                    *_PAGE,
                ],
                "responses": _ok("a page of workflows with their task counts", "#/components/schemas/Page"),
            }
        },
        "/api/workflows/{workflow_id}": {
            "get": {
                "summary": "The workflow record, its task counts by status and by activity, duration statistics",
                "parameters": [wid],
                "responses": _ok("the workflow", "#/components/schemas/Workflow"),
            }
        },
        "/api/workflows/{workflow_id}/tasks": {
            "get": {
                "summary": "The workflow's tasks: filter by activity, status and time; sort; paginated",
                "parameters": [
                    wid,
                    _param("activity_id", "exact activity"),
                    _param("status", "exact status"),
                    _param("parent_task_id", "tasks nested in this one"),
                    _param("started_after", _TIME),
                    _param("started_before", _TIME),
                    _param("ended_after", _TIME),
                    _param("ended_before", _TIME),
                    _param(
                        "sort",
                        "field, '-' prefix for descending (default task_id)",
                        schema={"type": "string", "enum": [*TASK_SORT_FIELDS, *(f"-{f}" for f in TASK_SORT_FIELDS)]},
                    ),
                    *_PAGE,
                ],
                "responses": _ok("a page of task rows", "#/components/schemas/Page"),
            }
        },
        "/api/workflows/{workflow_id}/charts": {
            "get": {
                "summary": "Timeline bars (at most a few thousand: per activity and time bucket the earliest start, "
                "the latest end and the first error), CPU/memory/GPU over time, errors with messages, metric "
                "trends; seq, generation and revision name the rows drawn, for /updates",
                "parameters": [wid],
                "responses": _ok("the charts' data", "#/components/schemas/Object"),
            }
        },
        "/api/workflows/{workflow_id}/updates": {
            "get": {
                "summary": "What the live view adds to a drawn page: summary, errors, trends, telemetry and the tasks "
                "stored after the first 'since' of 'generation', and in 'changed' those of the first 'since' that "
                "changed after 'revision' (reload: true when that generation is gone)",
                "parameters": [
                    wid,
                    _param(
                        "since",
                        "how many of the generation's tasks the page holds (charts' seq)",
                        schema={"type": "integer", "minimum": 0},
                    ),
                    _param("generation", "the charts' generation"),
                    _param(
                        "revision",
                        "the revision of the rows the page holds (charts' or the last update's revision)",
                        schema={"type": "integer", "minimum": 0},
                    ),
                ],
                "responses": _ok("the update", "#/components/schemas/Object"),
            }
        },
        "/api/workflows/{workflow_id}/state": {
            "get": {
                "summary": "What the live view watches: task count, workflow status, and how many of the workflow's "
                "unfinished tasks changed since the server read them (changed)",
                "parameters": [wid],
                "responses": _ok("the state", "#/components/schemas/Object"),
            }
        },
        "/api/workflows/{workflow_id}/events": {
            "get": {
                "summary": "Server-sent events: 'state' (the state above) at once and whenever it changes",
                "parameters": [wid],
                "responses": {
                    "200": {
                        "description": "an event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "404": {"$ref": "#/components/responses/Error"},
                },
            }
        },
        "/api/tasks/{task_id}": {
            "get": {
                "summary": "The task document, its parent, its children and its lineage (upstream/downstream graph)",
                "parameters": [_param("task_id", "the task's id", "path")],
                "responses": _ok("the task", "#/components/schemas/Task"),
            }
        },
        "/api/campaigns/{campaign_id}": {
            "get": {
                "summary": "The campaign's workflow and task totals and a page of its workflows with task counts",
                "parameters": [
                    _param("campaign_id", "the campaign's id", "path"),
                    _param(
                        "sort",
                        "field, '-' prefix for descending (default started_at)",
                        schema={
                            "type": "string",
                            "enum": [*WORKFLOW_SORT_FIELDS, *(f"-{f}" for f in WORKFLOW_SORT_FIELDS)],
                        },
                    ),
                    *_PAGE,
                ],
                "responses": _ok(
                    "the campaign: campaign_id, workflow_count, task_count and a page of workflows",
                    "#/components/schemas/Page",
                ),
            }
        },
    }
    obj = {"type": "object", "additionalProperties": True}
    schemas = {
        "Object": obj,
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
                }
            },
        },
        "Page": {
            "type": "object",
            "required": ["items", "total", "limit", "offset"],
            "properties": {
                "items": {"type": "array", "items": obj},
                "total": {
                    "type": ["integer", "null"],
                    "description": "null: not counted (a filter on a field that is "
                    "not indexed, over a workflow of more than 20000 tasks); next_offset still says if more follow",
                },
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "next_offset": {"type": ["integer", "null"]},
            },
        },
        "Workflow": {
            "type": "object",
            "properties": {
                "workflow": obj,
                "task_count": {"type": "integer"},
                "by_status": obj,
                "activities": {"type": "array", "items": obj},
                "error_count": {"type": "integer"},
            },
        },
        "Task": {
            "type": "object",
            "properties": {
                "task": obj,
                "parent": {"oneOf": [obj, {"type": "null"}]},
                "children": {"type": "array", "items": obj},
                "lineage": {
                    "type": "object",
                    "properties": {"nodes": {"type": "array", "items": obj}, "edges": {"type": "array", "items": obj}},
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flowcept provenance browser API",
            "version": __version__,
            "description": "Read-only access to stored workflow provenance. Errors are JSON "
            '{"error": {"status", "message"}} with that HTTP status.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "the request failed",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "required when the server is bound to a non-loopback address",
                }
            },
        },
    }
