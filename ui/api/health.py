"""Liveness and readiness.

`/healthz`: the process answers (always 200 while it runs). `/readyz`: a chat can be answered
now, at warm speed: the database answers, the models resolve to local weights (or the LLM
server answers and serves the model), the engine reports itself ready (`engine.health()`: a
decode loop being restarted is not), and the start-up warm-up (ui/warmup.py) is done. Until
then 503, with what is still loading and what failed, with its error.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shop.embedded import resolve
from shop.errors import ShopwrightError
from ui.api.deps import Context
from ui.context import ShopContext
from ui.warmup import loaded_engine

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]  # database, llm, embedder, engine, warmup: "ok ..." or "error: ..."
    loading: list[str] = Field(default_factory=list, description="Warm-up steps not done yet")
    failed: dict[str, str] = Field(default_factory=dict,
                                   description="Warm-up steps that failed, with the error")


@router.get("/healthz")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "Not ready: see the checks"}})
def readyz(context: Context, request: Request) -> JSONResponse:
    """Ready when a chat can be answered now without loading anything first."""
    checks: dict[str, str] = {}
    try:
        context.store.ping()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {exc}"
    checks.update(model_checks(context))
    warmup = getattr(request.app.state, "warmup", None)
    status: dict = {"loading": [], "failed": {}}
    if warmup is not None:
        done = warmup.done  # read first: once done, nothing is loading
        status = warmup.status()
        checks["warmup"] = "ok" if done else f"loading: {', '.join(status['loading'])}"
    ready = all(value.startswith("ok") for value in checks.values())
    body = Readiness(ready=ready, checks=checks, loading=status["loading"],
                     failed=status["failed"])
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def model_checks(context: ShopContext) -> dict[str, str]:
    settings = context.settings
    checks: dict[str, str] = {}
    remote = settings.llm_engine == "openai"
    roles = [("embedder", settings.embed_model)] if remote else \
        [("llm", settings.llm_model), ("embedder", settings.embed_model)]
    for role, name in roles:
        try:
            checks[role] = f"ok ({resolve(name).path})"
        except ShopwrightError as exc:
            checks[role] = f"error: {exc}"
    engine = loaded_engine(context)
    if engine is None and remote:  # no model to load: only a client
        engine = context.generation.engine
    if engine is not None:
        health = engine.health()
        verdict = "ok" if health.get("ready", True) else \
            f"error: {health.get('error') or 'not ready'}"
        where = f" ({health['upstream']}, {health.get('model', '')})" \
            if "upstream" in health else ""
        checks["llm" if remote else "engine"] = verdict + where
    return checks
