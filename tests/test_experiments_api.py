"""The experiments API driven the way a shop drives it: create, assign, post feedback, read
the results, stop. The app runs over a temp store; no model is loaded."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from shop.settings import Settings

ADMIN = {"Authorization": "Bearer secret"}
RATES = {"A": 0.03, "B": 0.15, "C": 0.06}  # true click rates; B is best


@pytest.fixture
def client(tmp_path, model_cache):
    from experiments.service import ExperimentService
    from ui.app import create_app
    from ui.context import ShopContext

    context = ShopContext(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache,
                                   admin_key="secret", experiment_min_impressions=100))
    # the bandit's draws seeded, so the run is the same every time
    context.experiments = ExperimentService(context.store, context.served_segment,
                                            rng=np.random.default_rng(0))
    return TestClient(create_app(context, with_studio=False))


def create(client, policy: str, name: str = "subject-lines", **extra) -> dict:
    response = client.post("/v1/experiments", headers=ADMIN, json={
        "name": name, "policy": policy,
        "variants": [{"key": "A", "text": "Autumn is here"}, {"key": "B", "text": "20% off"},
                     {"key": "C", "text": "New boots"}], "control": "A"} | extra)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_shop_runs_a_thompson_experiment_and_the_best_variant_wins(client):
    experiment = create(client, "thompson")
    assert experiment["state"] == "running" and "probability to be best" in experiment["rule"]
    assert [v["allocation"] for v in experiment["variants"]] == pytest.approx([1 / 3] * 3, abs=0.02)
    rng = np.random.default_rng(3)
    shown = []
    for start in range(0, 1500, 50):
        events = []
        for n in range(start, start + 50):
            customer = f"C{n}"
            response = client.get(f"/v1/experiments/{experiment['id']}/assign",
                                  params={"customer_id": customer}, headers=ADMIN)
            assert response.status_code == 200, response.text
            assigned = response.json()
            assert 0 < assigned["propensity"] <= 1
            shown.append(assigned["variant"])
            events.append({"experiment_id": experiment["id"], "customer_id": customer,
                           "variant": assigned["variant"], "event": "impression"})
            if rng.random() < RATES[assigned["variant"]]:
                events.append(events[-1] | {"event": "click"})
        response = client.post("/v1/feedback", headers=ADMIN, json={"events": events})
        assert response.status_code == 200, response.text
        assert response.json() == {"recorded": len(events), "duplicates": 0}

    first, last = shown[:150], shown[-500:]
    assert last.count("B") / 500 > first.count("B") / 150 + 0.2
    result = client.get(f"/v1/experiments/{experiment['id']}", headers=ADMIN).json()
    a, b = (next(v for v in result["variants"] if v["key"] == key) for key in "AB")
    assert b["p_best"] > 0.9 and b["p_beat_control"] > 0.9
    assert b["click_rate_ci"][0] > a["click_rate_ci"][1]
    assert result["state"] == "promoted" and result["winner"] == "B", result["decision"]
    # promoted: everyone now gets B, with certainty
    assert client.get(f"/v1/experiments/{experiment['id']}/assign",
                      params={"customer_id": "new"}, headers=ADMIN).json()["propensity"] == 1.0


def test_ab_assignment_is_sticky_uniform_and_feedback_idempotent(client):
    experiment = create(client, "ab")
    url = f"/v1/experiments/{experiment['id']}/assign"
    first = client.get(url, params={"customer_id": "C1"}, headers=ADMIN).json()
    assert first["propensity"] == pytest.approx(1 / 3)
    assert client.get(url, params={"customer_id": "C1"}, headers=ADMIN).json() == first
    variants = [client.get(url, params={"customer_id": f"C{n}"}, headers=ADMIN).json()["variant"]
                for n in range(600)]
    assert all(150 < variants.count(key) < 250 for key in "ABC")

    click = {"experiment_id": experiment["id"], "customer_id": "C1",
             "variant": first["variant"], "event": "click"}
    assert client.post("/v1/feedback", headers=ADMIN, json=click).json() == \
        {"recorded": 1, "duplicates": 0}
    assert client.post("/v1/feedback", headers=ADMIN, json={"events": [click, click]}).json() \
        == {"recorded": 0, "duplicates": 2}
    result = client.get(f"/v1/experiments/{experiment['id']}", headers=ADMIN).json()
    stats = next(v for v in result["variants"] if v["key"] == first["variant"])
    assert (stats["impressions"], stats["clicks"]) == (1, 1)  # the click implied its impression
    assert "mSPRT" in result["rule"] and result["state"] == "running"


def test_errors_are_json_with_their_status(client):
    experiment = create(client, "ab")
    event = {"experiment_id": experiment["id"], "customer_id": "C1", "variant": "A",
             "event": "click"}
    assert client.get("/v1/experiments/1").status_code == 401
    assert client.get("/v1/experiments/999", headers=ADMIN).json()["detail"].startswith("no exp")
    assert client.post("/v1/feedback", headers=ADMIN,
                       json=event | {"experiment_id": 999}).status_code == 404
    wrong = client.post("/v1/feedback", headers=ADMIN,
                        json={"events": [event, event | {"variant": "Z"}]})
    assert wrong.status_code == 422 and "'Z'" in wrong.json()["detail"]
    assert client.get(f"/v1/experiments/{experiment['id']}", headers=ADMIN
                      ).json()["variants"][0]["clicks"] == 0  # the batch was all or nothing
    assert client.post("/v1/experiments", headers=ADMIN, json={
        "name": "x", "policy": "ab", "variants": [{"key": "A"}, {"key": "A"}]}
    ).status_code == 422
    assert client.post("/v1/experiments", headers=ADMIN, json={
        "name": "subject-lines", "policy": "ab", "variants": [{"key": "A"}, {"key": "B"}]}
    ).status_code == 422  # the name is taken


def test_stop_serves_the_chosen_winner(client):
    experiment = create(client, "thompson")
    url = f"/v1/experiments/{experiment['id']}"
    assert client.post(f"{url}/stop", headers=ADMIN, json={"winner": "Z"}).status_code == 422
    stopped = client.post(f"{url}/stop", headers=ADMIN, json={"winner": "C"}).json()
    assert stopped["state"] == "stopped" and stopped["winner"] == "C"
    assert [v["allocation"] for v in stopped["variants"]] == [0.0, 0.0, 1.0]
    assert client.get(f"{url}/assign", params={"customer_id": "C9"}, headers=ADMIN).json()[
        "variant"] == "C"
