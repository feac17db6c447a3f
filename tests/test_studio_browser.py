"""A marketer in Chromium: sign in, write copy for a product, approve its variants, export
them, test them in an experiment, and a screenshot of every studio tab (the path is printed;
pytest -s shows it)."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM_ARGS, serving
from tests.test_serve_e2e import log_in
from tests.test_studio import studio_shop  # noqa: F401 - the module's store of its own

TABS = ["Shop", "Copy", "Email campaigns", "Chat playground", "Support", "Customers",
        "Experiments", "Search", "Recommendations", "Reviews"]


@pytest.mark.slow
@pytest.mark.browser
def test_a_marketer_writes_approves_exports_and_tests_copy(
        studio_shop, chromium_path, tmp_path):  # noqa: F811 - studio_shop is the fixture
    from playwright.sync_api import expect, sync_playwright

    from shop.keys import create_key
    from ui.app import create_app

    _, key = create_key(studio_shop.store, "admin", name="browser-test")
    shots = tmp_path / "studio-screenshots"
    shots.mkdir()
    print(f"\nstudio screenshots: {shots}")
    with serving(create_app(studio_shop)) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        log_in(page, base, key)
        page.wait_for_url("**/studio/")
        expect(page.locator("#shop-overview")).to_contain_text("customers", timeout=60_000)

        page.get_by_role("tab", name="Copy", exact=True).click()
        page.locator("#copy-search textarea").fill("rain jacket")
        page.locator("#copy-search-button").click()
        page.locator("#copy-products input").click()
        option = page.get_by_role("option").first
        option.wait_for(timeout=60_000)
        picked = option.inner_text().split("·")[0].strip()
        option.click()
        page.keyboard.press("Escape")
        page.locator("#copy-count input[type=number]").fill("2")
        page.locator("#copy-generate").click()
        card = page.locator("#copy-head-0")
        expect(card).to_contain_text(picked, timeout=300_000)  # live drafts show it too
        # the saved variants' headers say "draft" (their review status); live ones do not
        expect(card).to_contain_text("draft", timeout=300_000)
        expect(page.locator("#copy-head-1")).to_contain_text("draft")
        for slot in (0, 1):
            page.locator(f"#copy-approve-{slot}").click()
            expect(page.locator(f"#copy-head-{slot}")).to_contain_text("approved",
                                                                      timeout=30_000)

        page.locator("#copy-export").click()
        files = page.locator("#copy-files")
        expect(files).to_contain_text("approved-copy", timeout=30_000)
        with page.expect_download() as download:
            files.locator("a[href$='approved-copy.csv']").click()
        exported = shots / "approved-copy.csv"
        download.value.save_as(exported)
        page.screenshot(path=str(shots / "copy-approved.png"), full_page=True)

        page.locator("#copy-experiment-name textarea").fill("browser-headlines")
        page.locator("#copy-experiment").click()
        expect(page.locator("#copy-experiment-result")).to_contain_text("browser-headlines",
                                                                        timeout=30_000)
        page.get_by_role("tab", name="Experiments", exact=True).click()
        page.locator("#experiment-refresh").click()
        page.locator("#experiment-pick input").click()
        page.get_by_role("option", name="browser-headlines (running)").click()
        expect(page.locator("#experiment-summary")).to_contain_text("browser-headlines",
                                                                    timeout=60_000)

        # a support lead: the report, a shopper's unanswered question, its vetted answer
        import httpx

        asked = httpx.post(f"{base}/v1/chat", json={
            "message": "Can I collect my order from your warehouse myself?"}, timeout=300).json()
        httpx.post(f"{base}/v1/chat/feedback", json={
            "session_id": asked["session_id"], "turn_id": asked["turn_id"], "helpful": False},
            timeout=30).raise_for_status()
        page.get_by_role("tab", name="Support", exact=True).click()
        page.locator("#support-report-load").click()
        expect(page.locator("#support-report")).to_contain_text("conversations", timeout=60_000)
        gap = page.locator("#support-gaps").get_by_text(
            "collect my order from your warehouse").locator("visible=true")
        expect(gap.first).to_be_visible(timeout=60_000)
        gap.first.click()
        expect(page.locator("#vetted-question textarea")).to_have_value(
            "Can I collect my order from your warehouse myself?", timeout=30_000)
        page.locator("#vetted-answer textarea").fill("Not yet: every order ships from our "
                                                     "warehouse by courier.")
        page.locator("#vetted-save").click()
        expect(page.locator("#vetted-saved")).to_contain_text("Added", timeout=30_000)
        expect(page.locator("#support-vetted")).to_contain_text("every order ships")

        for tab in TABS:
            page.get_by_role("tab", name=tab, exact=True).click()
            if tab == "Customers":  # the segment table and map, drawn for the screenshot
                page.locator("#customers-segments-button").click()
                expect(page.locator("#customers-segments")).to_contain_text(
                    "shoppers", timeout=60_000)
                expect(page.locator("#customers-map canvas, #customers-map svg").first
                       ).to_be_visible(timeout=60_000)
            page.wait_for_timeout(500)  # let the tab paint before the screenshot
            page.screenshot(path=str(shots / f"{tab.lower().replace(' ', '-')}.png"),
                            full_page=True)
        browser.close()

    lines = exported.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("content_id,product_id,channel")
    assert all(f",{picked}," in line for line in lines[1:]) and len(lines) >= 2
    assert len(list(shots.glob("*.png"))) == len(TABS) + 1
