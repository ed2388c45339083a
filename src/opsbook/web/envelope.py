"""One error envelope for every API error: ``{"error": {type, message, hint, retryable},
"schema": "opsbook.error/1"}``, whatever raised it (our errors, Starlette's 404/405, bugs)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import JSONResponse, RedirectResponse

from ..config.secrets import redactor
from ..errors import HTTP_ERROR_TYPES as _TYPES
from ..errors import OpsbookError

SCHEMA = "opsbook.error/1"


def error_doc(status: int, message: str, hint: str = "", retryable: bool = False,
              type_: str | None = None) -> dict[str, Any]:
    return {"error": {"type": type_ or _TYPES.get(status, "Error"), "message": redactor.text(message),
                      "hint": redactor.text(hint), "retryable": retryable}, "schema": SCHEMA}


def status_of(e: OpsbookError) -> int:
    status = getattr(e, "status", None)
    if isinstance(status, int):
        return status
    from ..errors import IncidentConflict, UsageError

    if isinstance(e, IncidentConflict):
        return 409  # another operator changed it first: look again and retry
    return 400 if isinstance(e, UsageError) else 503 if e.retryable else 500


def error_response(e: OpsbookError) -> JSONResponse:
    status = status_of(e)
    # e.g. Retry-After on a 429
    headers: dict[str, str] | None = getattr(e, "headers", None)
    return JSONResponse(error_doc(status, e.message, e.hint, e.retryable, e.type), status_code=status,
                        headers=headers)


def flash_error(e: OpsbookError, back: str) -> RedirectResponse:
    """A form's refused action shown on the page it came from (``?error=``, redacted); refused or
    missing (401/403/404) is re-raised: an error page, not a flash on a page."""
    if status_of(e) in (401, 403, 404):
        raise e
    return RedirectResponse(f"{back}?error={quote(redactor.text(e.message))}", status_code=303)
