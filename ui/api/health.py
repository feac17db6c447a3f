"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shop.embedded import resolve
from shop.errors import ShopwrightError
from ui.api.deps import Context

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]  # database, llm, embedder: "ok (...)" or "error: ..."


@router.get("/healthz")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "Not ready: see the checks"}})
def readyz(context: Context) -> JSONResponse:
    """Ready when the database answers and both models resolve to local weights."""
    checks: dict[str, str] = {}
    try:
        context.store.ping()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {exc}"
    for role, name in (("llm", context.settings.llm_model),
                       ("embedder", context.settings.embed_model)):
        try:
            checks[role] = f"ok ({resolve(name).path})"
        except ShopwrightError as exc:
            checks[role] = f"error: {exc}"
    ready = all(value.startswith("ok") for value in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
