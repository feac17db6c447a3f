"""The embeddable chat widget: how it is served, CORS for the shop's site, and the widget
itself in headless Chromium against a real server (uvicorn in a thread, demo shop, real models).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from shop.demo import DEMO_IDENTITY
from shop.settings import Settings
from tests.conftest import CHROMIUM_ARGS, demo_settings, free_port, serving
from ui.app import create_app
from ui.context import ShopContext

SHOP = DEMO_IDENTITY["shop_url"]  # the demo shop's site, so the default allowed origin


def preflight(client: TestClient, path: str, origin: str):
    return client.options(path, headers={"Origin": origin,
                                         "Access-Control-Request-Method": "POST",
                                         "Access-Control-Request-Headers": "content-type"})


@pytest.fixture
def settings(tmp_path, model_cache) -> Settings:
    """A data dir named after the demo shop (its name titles the widget, its site is the
    allowed origin), with no products yet."""
    return demo_settings(tmp_path / "data", model_cache_dir=model_cache)


@pytest.fixture
def client(settings) -> TestClient:
    return TestClient(create_app(ShopContext(settings), with_studio=False))


def test_script_and_demo_page_are_served(client):
    script = client.get("/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age=" in script.headers["cache-control"] and script.headers["etag"]
    assert "attachShadow" in script.text and "innerHTML" not in script.text
    again = client.get("/widget.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304 and not again.content
    demo = client.get("/widget/demo")
    assert demo.status_code == 200 and demo.headers["content-type"].startswith("text/html")
    assert '<script src="http://testserver/widget.js" data-title="Ask Northwind' in demo.text


def test_the_demo_page_shows_the_shops_own_categories_escaped(tmp_path, model_cache):
    from shop.ingest import ingest_file

    context = ShopContext(Settings(
        data_dir=tmp_path / "data", model_cache_dir=model_cache, shop_name="Tea & Co",
        shop_url="https://tea.example", shop_postal_address="Tea & Co, 1 Leaf Lane, Leeds"))
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("id,title,description,category,price,stock\n"
                       "T1,Sencha <b>fresh</b>,A bright green tea. From Shizuoka.,green-tea,12,3\n"
                       "T2,Assam,A malty black tea.,black-tea,9,0\n"
                       "T3,Darjeeling,A light black tea.,black-tea,11,5\n"
                       "T4,Cosy,Keeps the pot warm.,<i>cosies</i>,15,2\n", encoding="utf-8")
    ingest_file(context.store, "catalog", catalog, progress=False)
    page = TestClient(create_app(context, with_studio=False)).get("/widget/demo").text
    # most products first, then by name; one card per category, a product in stock first
    assert ("<nav>Black tea · &lt;i&gt;cosies&lt;/i&gt; · Green tea · Help</nav>" in page)
    assert "<h3>Darjeeling</h3><p>A light black tea.</p>" in page and "Assam" not in page
    assert "<h3>Sencha &lt;b&gt;fresh&lt;/b&gt;</h3><p>A bright green tea. From Shizuoka.</p>" \
        in page
    assert "<h1>Tea &amp; Co</h1>" in page and 'data-title="Ask Tea &amp; Co"' in page
    assert "<b>" not in page and "<i>" not in page


def test_chat_answers_cross_origin_requests_from_the_shop_only(client):
    allowed = preflight(client, "/v1/chat?stream=true", SHOP)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SHOP
    assert "content-type" in allowed.headers["access-control-allow-headers"].lower()
    other = preflight(client, "/v1/chat", "https://evil.example")
    assert "access-control-allow-origin" not in other.headers
    # only the widget's path is opened up, not the rest of the API
    assert "access-control-allow-origin" not in preflight(client, "/v1/copy", SHOP).headers


def test_widget_origins_setting_replaces_the_shop_url_default(settings):
    assert Settings(widget_origins="https://Shop.example/help, http://localhost:3000"
                    ).cors_origins == ["https://shop.example", "http://localhost:3000"]
    with pytest.raises(ValueError, match="not an http"):
        Settings(widget_origins=["shop.example"])
    settings = settings.model_copy(update={"widget_origins": ["https://shop.example"]})
    client = TestClient(create_app(ShopContext(settings), with_studio=False))
    assert preflight(client, "/v1/chat", "https://shop.example").status_code == 200
    assert "access-control-allow-origin" not in preflight(client, "/v1/chat", SHOP).headers


# ---- in a browser ---------------------------------------------------------------------------

def _shop_site(page: str) -> ThreadingHTTPServer:
    """A stand-in for a shop's own website on its own origin, serving one page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def live(demo_context):
    """The app on a real port, plus two shop sites embedding its widget from another origin:
    one listed in widget_origins, one not."""

    port = free_port()
    api = f"http://127.0.0.1:{port}"
    page = (f'<!doctype html><title>Shop</title><h1>A shop</h1>'
            f'<script src="{api}/widget.js" data-title="Ask us" async></script>')
    shop, stranger = _shop_site(page), _shop_site(page)
    shop_origin = f"http://127.0.0.1:{shop.server_address[1]}"
    with pytest.MonkeyPatch.context() as patch:  # read once, when the app is built
        patch.setattr(demo_context.settings, "widget_origins", [shop_origin])
        app = create_app(demo_context, with_studio=False)
    with serving(app, port):
        yield {"api": api, "shop": shop_origin,
               "stranger": f"http://127.0.0.1:{stranger.server_address[1]}"}
    shop.shutdown()
    stranger.shutdown()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


ANSWER_WAIT = 300_000  # ms; the first question also loads the LLM


def open_widget(page, url: str, title: str):
    page.goto(url)
    widget = page.locator("#shopwright-chat")
    widget.get_by_role("button", name=title).click()
    return widget, widget.get_by_label("Your question")


def ask(widget, question_box, text: str):
    from playwright.sync_api import expect

    answers = widget.locator(".msg.assistant:not(.greeting)")
    before = answers.count()
    question_box.fill(text)
    question_box.press("Enter")
    expect(widget.locator(".msg.assistant:not(.greeting):not(.pending)")).to_have_count(
        before + 1, timeout=ANSWER_WAIT)
    expect(question_box).to_be_enabled()
    return answers.last


@pytest.mark.slow
@pytest.mark.browser
def test_demo_page_streams_a_grounded_answer(live, browser, demo_files):
    kb_titles = {path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
                 for path in demo_files["kb"].glob("*.md")}
    page = browser.new_page()
    widget, question_box = open_widget(page, live["api"] + "/widget/demo",
                                       "Ask Northwind Outfitters")
    # Record the answer bubble's text while the reply is still pending: a mutation observer
    # runs before the widget reads the next chunk, so this sees each delta as it is rendered.
    widget.evaluate("""host => {
        const log = host.shadowRoot.querySelector('.log');
        window.seenWhilePending = [];
        new MutationObserver(() => {
            const text = log.querySelector('.msg.pending .text');
            if (text && text.textContent) window.seenWhilePending.push(text.textContent);
        }).observe(log, {subtree: true, childList: true, characterData: true});
    }""")
    answer = ask(widget, question_box, "How many days do I have to return an item?")

    assert answer.locator(".text").inner_text().strip()
    assert answer.locator(".error").count() == 0
    assert page.evaluate("window.seenWhilePending.length") >= 1
    sources = answer.locator("ul[aria-label=Sources] a")
    assert sources.count() >= 1
    for i in range(sources.count()):
        assert sources.nth(i).inner_text().split(" › ")[0] in kb_titles
        assert sources.nth(i).get_attribute("href").startswith(SHOP + "/")
    page.close()


PAYLOAD = '<img src=x onerror="window.pwned = 1">'


def _sse(*events: dict) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


@pytest.mark.slow
@pytest.mark.browser
def test_markup_from_the_shopper_or_the_server_is_shown_as_text(live, browser):
    """The server's guardrails strip markup before it is streamed, so to test the widget's own
    defence this reply is faked in the browser: markup in deltas, titles and link targets."""
    hostile = f"Sure! {PAYLOAD} <script>window.pwned = 2</script>"
    reply = {"answer": hostile + "\n\nSources: [1] x", "handoff": True,
             "citations": [{"n": 1, "title": "<b onmouseover=x>Returns</b>",
                            "url": "javascript:window.pwned = 3"},
                           {"n": 2, "title": "Returns policy", "url": SHOP + "/help/returns"}],
             "products": [{"title": PAYLOAD, "price_text": "9.00 EUR",
                           "url": "data:text/html,<script>window.pwned = 4</script>"}]}
    page = browser.new_page()
    page.route("**/v1/chat?stream=true", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body=_sse({"delta": "Sure! "}, {"delta": hostile[6:]}, {"reply": reply})))
    widget, question_box = open_widget(page, live["api"] + "/widget/demo",
                                       "Ask Northwind Outfitters")
    answer = ask(widget, question_box, PAYLOAD)

    assert widget.locator(".msg.user").last.inner_text() == PAYLOAD
    assert answer.locator(".text").inner_text() == hostile
    # (locators pierce the shadow root); the one picture is the card's placeholder
    assert page.locator("img:not([src$='/widget/placeholder.svg']), script[src=x], b"
                        ).count() == 0
    assert page.evaluate("window.pwned") is None
    links = answer.locator("a")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        SHOP + "/help/returns"]
    assert "<b onmouseover=x>Returns</b>" in answer.inner_text()
    assert answer.locator(".handoff").is_visible()
    page.close()


@pytest.mark.slow
@pytest.mark.browser
def test_errors_are_readable_and_the_input_comes_back(live, browser):
    from playwright.sync_api import expect

    page = browser.new_page()
    page.route("**/v1/chat?stream=true", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"detail": "busy"}'))
    widget, question_box = open_widget(page, live["api"] + "/widget/demo",
                                       "Ask Northwind Outfitters")
    failed = ask(widget, question_box, "Where is my order?")
    assert "unavailable right now (error 503)" in failed.get_by_role("alert").inner_text()
    page.unroute("**/v1/chat?stream=true")
    page.route("**/v1/chat?stream=true", lambda route: route.abort())
    failed = ask(widget, question_box, "Where is my order?")
    assert "Could not reach the assistant" in failed.get_by_role("alert").inner_text()
    expect(question_box).to_be_focused()
    question_box.press("Escape")
    expect(widget.get_by_role("dialog")).to_be_hidden()
    expect(widget.get_by_role("button", name="Ask Northwind Outfitters")).to_be_focused()
    page.close()


@pytest.mark.slow
@pytest.mark.browser
def test_an_answer_that_fails_midway_keeps_its_text_and_says_why(live, browser):
    """The server ends a stream whose generation failed with an error event (ui/api/generate.py)."""
    page = browser.new_page()
    page.route("**/v1/chat?stream=true", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body=_sse({"delta": "Choose the items you want to send back."},
                  {"error": {"status": 500, "detail": "the model stopped mid-answer"}})))
    widget, question_box = open_widget(page, live["api"] + "/widget/demo",
                                       "Ask Northwind Outfitters")
    failed = ask(widget, question_box, "How do I return an item?")
    assert failed.locator(".text").inner_text() == "Choose the items you want to send back."
    assert "error on our side (error 500)" in failed.get_by_role("alert").inner_text()
    assert "interrupted" not in failed.inner_text()
    page.close()


@pytest.mark.slow
@pytest.mark.browser
def test_widget_on_the_shops_own_origin_talks_to_the_api_and_keeps_history(live, browser):
    from playwright.sync_api import expect

    page = browser.new_page()
    widget, question_box = open_widget(page, live["shop"], "Ask us")
    # asking for a person is answered without the LLM: a cheap real round trip
    answer = ask(widget, question_box, "Can I speak to a human about my order?")
    assert answer.locator(".text").inner_text().strip()
    assert answer.locator(".handoff").is_visible() and answer.locator(".error").count() == 0

    page.reload()  # same tab: the conversation and the open panel survive
    widget = page.locator("#shopwright-chat")
    expect(widget.locator(".msg.user")).to_have_text(["Can I speak to a human about my order?"])
    with page.expect_request("**/v1/chat?stream=true") as sent:
        ask(widget, widget.get_by_label("Your question"), "I want to talk to a person")
    # the server keeps the history: the widget sends only its session
    posted = sent.value.post_data_json
    assert posted["session_id"] and "history" not in posted
    page.close()

    stranger = browser.new_page()  # a site not in widget_origins: the browser blocks the call
    widget, question_box = open_widget(stranger, live["stranger"], "Ask us")
    failed = ask(widget, question_box, "Can I speak to a human?")
    assert "Could not reach the assistant" in failed.get_by_role("alert").inner_text()
    stranger.close()


@pytest.mark.slow
@pytest.mark.browser
def test_product_cards_a_person_on_request_a_kept_conversation_and_no_axe_violations(
        live, browser, demo_context):
    """The finished widget on the demo page: a product question shows cards with a picture,
    price and link; "Talk to a person" flags the session and says what happens next; the
    conversation comes back from the server after storage is cleared; axe-core finds no
    serious or critical violations in the widget."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    from shop.sessions import load_session

    page = browser.new_page()
    widget, question_box = open_widget(page, live["api"] + "/widget/demo",
                                       "Ask Northwind Outfitters")
    answer = ask(widget, question_box, "Do you have waterproof hiking boots for women?")
    cards = answer.get_by_role("list", name="Suggested products").get_by_role("listitem")
    expect(cards.first).to_be_visible()
    first = cards.first
    assert first.locator("img").get_attribute("src").endswith("/widget/placeholder.svg")
    assert first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert "€" in first.locator(".price").inner_text() or "EUR" in first.inner_text()
    assert first.get_by_role("link").get_attribute("href").startswith("https://")

    widget.get_by_role("button", name="Talk to a person").click()
    expect(widget.locator(".handoff").last).to_contain_text("customer service team")
    session_id = page.evaluate("() => localStorage.getItem(Object.keys(localStorage).find("
                               "k => k.startsWith('shopwright-session:')))")
    assert load_session(demo_context.store, session_id)["handoff"] is True

    page.evaluate("() => sessionStorage.clear()")  # as on another tab: only the session id
    page.reload()
    widget = page.locator("#shopwright-chat")
    widget.get_by_role("button", name="Ask Northwind Outfitters").click()
    expect(widget.locator(".msg.user")).to_have_text(
        ["Do you have waterproof hiking boots for women?"], timeout=30_000)
    expect(widget.get_by_role("list", name="Suggested products")).to_be_visible()

    results = Axe().run(page, context="#shopwright-chat")
    serious = [f"{v['id']}: {v['help']}" for v in results.response["violations"]
               if v["impact"] in ("serious", "critical")]
    assert not serious, serious
    page.close()


@pytest.mark.slow
@pytest.mark.browser
def test_the_shopper_says_whether_an_answer_helped_and_it_is_stored(live, browser,
                                                                     demo_context):
    from playwright.sync_api import expect
    from sqlalchemy import select

    from shop.support_tables import ChatOutcome

    page = browser.new_page()
    widget, question_box = open_widget(page, live["api"] + "/widget/demo",
                                       "Ask Northwind Outfitters")
    first = ask(widget, question_box, "Which payment methods do you accept?")
    asked = first.get_by_role("group", name="Feedback on this answer")
    expect(asked).to_be_visible()
    asked.get_by_role("button", name="No").click()
    asked.get_by_label("What was missing? (optional)").fill("I wanted to know about invoices")
    asked.get_by_role("button", name="Send").click()
    expect(asked).to_have_text("Thanks for telling us.")

    second = ask(widget, question_box, "How long do I have to return an item?")
    second.get_by_role("group", name="Feedback on this answer").get_by_role(
        "button", name="Yes").click()
    expect(second.locator(".feedback")).to_have_text("Thanks for telling us.")
    with demo_context.store.session() as session:
        rated = session.scalars(select(ChatOutcome).where(ChatOutcome.helpful.is_not(None))
                                .order_by(ChatOutcome.id.desc()).limit(2)).all()
    assert [(r.helpful, r.comment) for r in rated] == [
        (True, ""), (False, "I wanted to know about invoices")]
    assert rated[1].question.startswith("Which payment methods")
    # a reload shows the verdicts as given, not the question again
    page.reload()
    widget.get_by_role("button", name="Ask Northwind Outfitters").click() \
        if not widget.locator(".panel:not([hidden])").count() else None
    expect(widget.locator(".feedback button")).to_have_count(0)
    expect(widget.locator(".feedback")).to_have_count(2)
    page.close()
