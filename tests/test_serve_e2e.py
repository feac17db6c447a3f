"""The main job for real: `shopwright serve --demo` in its own process, probed over HTTP and
with a real browser on the studio."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import CHROMIUM_ARGS, free_port

ADMIN_KEY = "e2e-admin-key"
FIRST_READY: dict[str, httpx.Response] = {}  # the server fixture's first /readyz answer


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_cache):
    data_dir = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {**os.environ, "SHOPWRIGHT_DATA_DIR": str(data_dir), "SHOPWRIGHT_PORT": str(port),
           "SHOPWRIGHT_MODEL_CACHE_DIR": str(model_cache), "HF_HUB_OFFLINE": "1",
           "SHOPWRIGHT_ADMIN_KEY": ADMIN_KEY}
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--demo"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    first_ready = None  # the first /readyz answer once the process is up
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {(data_dir / 'server.log').read_text()[-3000:]}")
        try:
            ready = httpx.get(base + "/readyz", timeout=2)
            if first_ready is None:
                first_ready = ready
            if ready.status_code == 200:  # warm-up done: the first chat is at warm speed
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        process.kill()
        pytest.fail(f"server did not become ready: {(data_dir / 'server.log').read_text()[-3000:]}")
    FIRST_READY["response"] = first_ready
    yield base
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.slow
def test_service_is_healthy_and_ready_on_the_demo_shop(server):
    assert httpx.get(server + "/healthz").json() == {"status": "ok"}
    first = FIRST_READY["response"]
    if first.status_code == 503:  # caught while warming: it says what is still loading
        assert first.json()["loading"] or first.json()["failed"], first.text
    ready = httpx.get(server + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True


def log_in(page, server: str, key: str = ADMIN_KEY) -> None:
    """A person's way into the studio: the form the studio page redirects to."""
    page.goto(server + "/studio/")
    page.wait_for_url("**/studio-login")
    page.get_by_label("Admin key").fill(key)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.slow
def test_studio_needs_an_admin_key_also_through_gradio_client(server):
    from gradio_client import Client

    for path in ("/studio/config", "/studio/gradio_api/info"):
        assert httpx.get(server + path).status_code == 401
        assert httpx.get(server + path, headers={"Authorization": "Bearer wrong"}
                         ).status_code == 401
        assert httpx.get(server + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
                         ).status_code == 200
    page = httpx.get(server + "/studio/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/studio-login"

    client = Client(server + "/studio/", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                    verbose=False)
    counts = client.predict(api_name="/shop_overview")
    rows = {row[0]: row[1] for row in counts["data"]}
    assert rows["customers"] == 2000
    with pytest.raises(ValueError, match="credentials were not provided"):
        Client(server + "/studio/", verbose=False)


@pytest.mark.slow
@pytest.mark.browser
def test_studio_login_refuses_a_wrong_key_then_shows_the_demo_shop(server, chromium_path,
                                                                   tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page()
        log_in(page, server, key="not-the-key")
        expect(page.get_by_role("alert")).to_contain_text("not an admin key")
        log_in(page, server)
        page.wait_for_url("**/studio/")  # never network-idle: gradio keeps a stream open
        overview = page.locator("#shop-overview")
        overview.wait_for(timeout=60_000)
        page.get_by_text("products", exact=True).first.wait_for(timeout=30_000)
        text = overview.inner_text()
        page.screenshot(path=str(tmp_path / "studio.png"))
        browser.close()
    assert "customers" in text and "2000" in text.replace(",", "")


@pytest.mark.slow
@pytest.mark.browser
def test_studio_search_recommendations_and_email_tabs_work_in_a_browser(server, chromium_path):
    """A marketer's path through the studio on the served demo shop, clicking real buttons."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page()
        log_in(page, server)
        page.wait_for_url("**/studio/")  # never network-idle: gradio keeps a stream open

        page.get_by_role("tab", name="Search").click()
        page.locator("#search-query textarea").fill("waterproof rain jacket")
        page.locator("#search-button").click()
        expect(page.locator("#search-results")).to_contain_text("Jacket", timeout=60_000)

        page.get_by_role("tab", name="Recommendations").click()
        page.locator("#recsys-customer textarea").fill("C00001")
        page.locator("#recsys-button").click()
        expect(page.locator("#recsys-summary")).to_contain_text("C00001", timeout=120_000)
        reasons = page.locator("#recsys-results")
        expect(reasons).to_contain_text("P0", timeout=30_000)  # product ids in the table
        assert any(words in reasons.inner_text() for words in  # recsys.reason_text.phrase
                   ("bought together", "chosen together", "Similar to", "Because you",
                    "shoppers like you", "Trending", "Popular"))

        page.get_by_role("tab", name="Email").click()
        page.locator("#email-customer textarea").fill("C00003")  # en-US: the model writes
        page.locator("#email-preview").click()
        email = page.locator("#email-html")
        expect(email).to_contain_text("Unsubscribe", timeout=180_000)
        text = email.inner_text()
        browser.close()
    assert "Fjordgatan 12" in text  # the shop's postal address in the footer
