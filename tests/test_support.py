"""Vetted answers and support outcomes on the real app over a copy of the demo shop, with the
real embedded models: past tickets answer paraphrased repeats (measured on two evaluation
shops' held-back tickets, tuned on one half and checked on the other), never a question
below the threshold; a person's edit survives re-ingestion; each answer's outcome and the
shopper's verdict reach the report; a knowledge gap turned into a vetted answer answers the
next shopper who asks it."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gen.evaluation.vetted import evaluate, load_history, score_heldback, support_folder
from shop.ingest import ingest_file
from shop.lexicon.asks import without_stance
from shop.schema import utcnow
from shop.support_tables import ChatOutcome
from shop.vetted import edit_vetted, get_vetted, vetted_answers
from tests.conftest import writable_demo

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer bootstrap"}
TICKETS = [
    ("K1", "Can I get an invoice with my company's VAT number on it?",
     "Yes: add the VAT number under Account > Company details before you order, and the "
     "invoice in your confirmation email shows it. For a past order, reply to its "
     "confirmation email and we send a corrected invoice within two working days.", "true"),
    ("K2", "My discount code says expired but the email came yesterday",
     "Codes from the welcome email work for 14 days from sign-up, once per customer. If yours "
     "is newer than that, send us the code and we add the discount to your order by hand.",
     "true"),
    ("K3", "The courier left my parcel at the wrong address, what now?",
     "I've asked the courier to investigate.", "false"),
]


@pytest.fixture(scope="module")
def shop(demo_context, tmp_path_factory, model_cache):
    context = writable_demo(demo_context, tmp_path_factory, model_cache, admin_key="bootstrap")
    path = context.settings.data_dir / "history.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer", "resolved", "created_at", "tags"])
        writer.writerows([*row, "2026-06-0{}".format(i + 1), "invoices" if i == 0 else ""]
                         for i, row in enumerate(TICKETS))
    context.history_path = path
    assert ingest_file(context.store, "support-history", path, progress=False).written == 3
    return context


@pytest.fixture(scope="module")
def client(shop):
    from ui.app import create_app

    app = create_app(shop, with_studio=False)
    app.state.rate_limiter.enabled = False
    return TestClient(app)


def ask(client, message: str, session_id: str | None = None) -> dict:
    body = {"message": message, **({"session_id": session_id} if session_id else {})}
    answer = client.post("/v1/chat", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_paraphrased_repeat_gets_the_shops_answer_and_others_do_not(shop, client):
    reply = ask(client, "do your invoices show my firm's VAT id?")
    assert reply["mode"] == "vetted" and reply["vetted_id"] == "K1"
    # word for word, but for its opening "Yes.": that answered the first asker's words, and
    # this question does not hold them (gen/tasks/vetted.py)
    assert reply["answer"].startswith(without_stance(TICKETS[0][2]))
    assert reply["citations"] == [{"n": 1, "title": "Our team's answer", "url": "",
                                   "id": "vetted:K1", "vetted_id": "K1"}]
    assert reply["vetted_score"] >= shop.settings.vetted_threshold
    # an unresolved ticket is never an answer, and a question nobody answered goes to the pages
    assert get_vetted(shop.store, "K3")["active"] is False
    lost = ask(client, "the courier delivered my parcel to the wrong address, what now?")
    assert lost["vetted_id"] != "K3"
    other = ask(client, "How many days do I have to return an item?")
    assert other["mode"] != "vetted" and other["citations"][0].get("doc_id")


def test_a_persons_edit_and_retirement_survive_reingesting_the_history(shop, client):
    edited = edit_vetted(shop.store, "K2", answer="Welcome codes work for 30 days now.")
    assert edited["edited"]
    ingest_file(shop.store, "support-history", shop.history_path, progress=False)
    assert get_vetted(shop.store, "K2")["answer"] == "Welcome codes work for 30 days now."
    retired = client.patch("/v1/vetted-answers/K2", headers=ADMIN, json={"active": False})
    assert retired.status_code == 200 and retired.json()["active"] is False
    ingest_file(shop.store, "support-history", shop.history_path, progress=False)
    assert "K2" not in {a["id"] for a in vetted_answers(shop.store)}
    assert ask(client, "my discount code says it has expired already")["vetted_id"] != "K2"
    assert client.patch("/v1/vetted-answers/K2", json={"active": True}).status_code == 401
    assert client.patch("/v1/vetted-answers/nope", headers=ADMIN,
                        json={"active": True}).status_code == 404
    assert client.post("/v1/vetted-answers", headers=ADMIN,
                       json={"question": "hi", "answer": ""}).status_code == 422


def test_held_back_tickets_are_answered_right_and_never_below_the_threshold(shop, client):
    embed = shop.generation.knowledge.embed
    report = evaluate(embed, ["pawsome", "voltwerk"], min_precision=0.90)
    checked = report["split_b"]  # tuned on the a halves, reported on the b halves
    assert checked["precision"] >= 0.85 and checked["recall"] >= 0.6, checked
    assert checked["new_answered"] <= 0.15, checked

    # the chat, with one shop's history ingested: a held-back question scoring under the
    # threshold never gets a past answer, one above it gets the closest ticket's
    folder = support_folder("voltwerk")
    ingest_file(shop.store, "support-history", folder / "history.csv", progress=False)
    tickets, heldback = load_history(folder)
    answers = {t.id for t in tickets} | {a["id"] for a in vetted_answers(shop.store)}
    scored = score_heldback(embed, [t for t in tickets], heldback)
    threshold = shop.settings.vetted_threshold
    below = [s for s in scored if s.score < threshold - 0.02][:6]
    above = [s for s in scored if s.score >= threshold + 0.02][:6]
    assert below and above
    for case in below:
        assert ask(client, case.question)["mode"] != "vetted", case
    for case in above:
        reply = ask(client, case.question)
        assert reply["mode"] == "vetted" and reply["vetted_id"] in answers, case
        assert reply["vetted_id"] == case.best or reply["vetted_id"].startswith(("K", "va-"))


def test_outcomes_feedback_and_the_report(shop, client):
    first = ask(client, "do your invoices show my firm's VAT id?")
    session_id = first["session_id"]
    said = client.post("/v1/chat/feedback", json={"session_id": session_id,
                                                  "turn_id": first["turn_id"],
                                                  "helpful": True})
    assert said.status_code == 200
    assert client.post("/v1/chat/feedback", json={"session_id": "someone-else",
                                                  "turn_id": first["turn_id"],
                                                  "helpful": False}).status_code == 404
    assert client.post("/v1/chat/feedback", json={"session_id": session_id, "turn_id": 0,
                                                  "helpful": True}).status_code == 422

    person = ask(client, "can I talk to a real person please?")
    complaint = ask(client, "This is unacceptable, my refund is two weeks late")
    assert complaint["handoff"] and complaint["handoff_reason"] == "complaint"
    again = ask(client, "how long does delivery to Norway take?")
    repeated = ask(client, "how long does delivery to Norway take?", again["session_id"])
    assert repeated["handoff"] and repeated["handoff_reason"] == "repeated question"
    gap = ask(client, "Do you offer engraving on the gift cards?")
    no = client.post("/v1/chat/feedback", json={"session_id": gap["session_id"],
                                                "turn_id": gap["turn_id"], "helpful": False,
                                                "comment": "no answer about engraving"})
    assert no.status_code == 200
    # one quiet conversation, its last answer two days old: assumed resolved
    quiet = ask(client, "Which payment methods do you accept?")
    with shop.store.session() as session:
        session.execute(update(ChatOutcome).where(ChatOutcome.turn_id == quiet["turn_id"])
                        .values(at=utcnow() - timedelta(days=2)))

    assert client.get("/v1/support/report").status_code == 401
    report = client.get("/v1/support/report", headers=ADMIN, params={"days": 7}).json()
    assert report["satisfaction"]["yes"] >= 1 and report["satisfaction"]["no"] >= 1
    reasons = report["handoff"]["by_reason"]
    assert reasons["asked for a person"] >= 1 and person["handoff"]
    assert reasons["complaint"] >= 1 and reasons["repeated question"] >= 1
    resolution = report["resolution"]
    assert resolution["confirmed_count"] >= 1 and resolution["assumed_count"] >= 1
    assert report["outcomes"]["vetted"] >= 1 and 0 < report["involvement"] <= 1
    engraving = [g for g in report["gaps"] if "engraving" in g["question"].lower()]
    assert engraving and engraving[0]["thumbs_down"] >= 1

    # the gap becomes a vetted answer, and the next shopper asking it gets that answer
    made = client.post("/v1/vetted-answers", headers=ADMIN, json={
        "question": engraving[0]["question"], "origin": "gap",
        "answer": "We don't engrave gift cards, but you can add a personal message to them."})
    assert made.status_code == 201
    next_shopper = ask(client, "can you engrave a gift card for me?")
    assert next_shopper["mode"] == "vetted" and next_shopper["vetted_id"] == made.json()["id"]


def test_a_ticket_answered_from_the_pages_teaches_the_router(demo_context, tmp_path_factory,
                                                              model_cache):
    """A past answer that restates the help pages adds its question, in the shopper's words,
    to the router's examples (it refits); one the pages do not hold adds nothing."""
    from shop.vetted import add_vetted

    context = writable_demo(demo_context, tmp_path_factory, model_cache, admin_key="bootstrap")
    service = context.generation

    def router_model():  # as each chat turn sees it: the pages read, then the router refreshed
        return service.assistant("extractive").router.model

    fitted = router_model()
    assert fitted is not None
    add_vetted(context.store, "is my parcel with the neighbours?",
               "I asked the courier and they will call you back tomorrow morning.")
    assert router_model() is fitted
    page = max(service.knowledge.units, key=lambda u: len(u.text))
    add_vetted(context.store, "hey quick one about this, how does it work for me?", page.text)
    assert router_model() is not fitted
