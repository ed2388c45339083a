"""The OpenAPI 3.1 document, generated from api.ROUTES so it cannot drift from the routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from .api import ApiRoute

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "schema"],
    "properties": {
        "schema": {"const": "opsbook.error/1"},
        "error": {"type": "object", "required": ["type", "message", "hint", "retryable"], "properties": {
            "type": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": "string"},
            "retryable": {"type": "boolean"}}},
    },
}
_ERR = {"description": "error envelope",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def document(routes: list[ApiRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": f"{r.method.lower()}_{r.handler.__name__}",
            "tags": list(r.tags),
            "parameters": [{"name": n, "in": where, "required": where == "path", "description": d,
                            "schema": {"type": "string"}} for n, where, d in r.params],
            "responses": {"200" if r.method != "POST" or r.body is None else "201": {
                "description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }
        for code in ("400", "404", "500", "503"):
            op["responses"][code] = _ERR
        if r.conflicts:
            op["responses"]["409"] = _ERR
        if r.role is not None:
            op["security"] = [{"bearer": []}, {"session": []}]
            op["description"] = f"Needs role {r.role} or higher."
            op["responses"]["401"] = _ERR
            op["responses"]["403"] = _ERR
        if r.body is not None:
            name = r.body.__name__
            schemas[name] = r.body.model_json_schema()
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}
            op["responses"]["422"] = _ERR
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "opsbook API", "version": __version__,
                 "description": "Checks, runs, alerts, silences, SLOs and the audit log of `opsbook serve`. "
                                "Errors are always the opsbook.error/1 envelope."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a token from api: tokens:"},
                "session": {"type": "apiKey", "in": "cookie", "name": "opsbook_session",
                            "description": "dashboard login; writes also need the X-CSRF-Token header"},
            },
        },
    }
