"""The HTTP edge's errors in Huawei's shapes: IMS and ECS answer ``{"error": {"code", "message"}}``, CBR and billing
answer ``{"error_code", "error_msg"}``. Every 4xx names what was wrong.

Routes and the domain code they call raise ``Refusal`` (``ims_shared.refusal``); the one handler installed here maps
it to the service's error body and its status. Request validation, unknown routes and a database that is gone for a
moment are mapped here too, so no route catches and translates errors itself.
"""

from typing import Literal

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ims_shared.refusal import Refusal

ErrorStyle = Literal["ims", "cbr"]
"""``ims``: ``{"error": {"code", "message"}}`` (IMS, ECS, EVS); ``cbr``: ``{"error_code", "error_msg"}`` (CBR,
billing)."""
UNAVAILABLE_CODE = "APIGW.0503"
# Failures of the database connection rather than of the request: answered 503 with an error code, not 500.
UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,
)


def error_body(style: ErrorStyle, code: str, message: str) -> dict[str, object]:
    if style == "ims":
        return {"error": {"code": code, "message": message}}
    return {"error_code": code, "error_msg": message}


def install_error_handlers(app: FastAPI, style: ErrorStyle, bad_request_code: str) -> None:
    async def on_refusal(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refusal)
        return JSONResponse(error_body(style, exc.code, exc.message), status_code=exc.status)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
        )
        return JSONResponse(error_body(style, bad_request_code, f"invalid request: {problems}"), status_code=400)

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "APIGW.0101", 405: "APIGW.0102", 413: "APIGW.0201"}.get(exc.status_code, "APIGW.0000")
        return JSONResponse(error_body(style, code, str(exc.detail)), status_code=exc.status_code)

    async def on_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The database (or its connection) is gone for a moment, e.g. restarting: the client may retry.
        message = f"service temporarily unavailable ({type(exc).__name__}); retry later"
        return JSONResponse(error_body(style, UNAVAILABLE_CODE, message), status_code=503, headers={"Retry-After": "1"})

    app.add_exception_handler(Refusal, on_refusal)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)

    async def on_bad_characters(_: Request, exc: Exception) -> JSONResponse:
        # Text PostgreSQL cannot store (a NUL character, an invalid byte sequence) came with the request.
        message = "invalid request: a parameter contains characters that are not allowed (such as NUL)"
        return JSONResponse(error_body(style, bad_request_code, message), status_code=400)

    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, on_unavailable)
    for bad in (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError):
        app.add_exception_handler(bad, on_bad_characters)
