"""eval chat --shop: the case files, the independent gold-page judge, and a run over one shop."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from gen.evaluation.gold import answer_body, has_fact, judge, summarize
from gen.evaluation.shops import SHOPS_DIR, load_cases, shop_config, shop_names, split_of
from gen.tasks.chat import ChatReply

SHOPS = [name for name in shop_names() if name != "demo"]

RETURNS = ("# Returns\n\nYou can return unopened items within 60 days of delivery. "
           "Return shipping from Canada costs $7.99.")
SHIPPING = "# Shipping\n\nExpedited shipping takes 2 business days and costs $12.99."
DOCS = {"returns": RETURNS, "shipping": SHIPPING}


def _case(**extra):
    return {"id": "c1", "kind": "support", "question": "how long can i send stuff back?",
            "doc": "returns", "facts": [["60 days"]], **extra}


def _cite(doc):
    return [{"n": 1, "doc_id": doc, "title": doc, "url": ""}]


def test_there_are_at_least_three_shops_and_one_in_german():
    assert len(SHOPS) >= 3
    assert "de" in {shop_config(name)["language"] for name in SHOPS}


@pytest.mark.parametrize("name", SHOPS)
def test_case_files_parse_and_gold_facts_are_on_their_gold_pages(name):
    folder = SHOPS_DIR / name
    pages = {p.stem: p.read_text(encoding="utf-8") for p in (folder / "kb").glob("*.md")}
    cases = load_cases(name, "all")
    assert 30 <= len(cases) <= 45
    assert len({c["id"] for c in cases}) == len(cases)
    kinds = {c["kind"] for c in cases}
    assert kinds == {"support", "shopping", "handoff"}
    tests = sum(split_of(c) == "test" for c in cases)
    assert 0.35 <= tests / len(cases) <= 0.65
    catalog = (folder / "catalog.csv").read_text(encoding="utf-8")
    for case in cases:
        assert case["split"] in ("tune", "test")
        if case["kind"] == "support":
            docs = case["doc"] if isinstance(case["doc"], list) else [case["doc"]]
            assert all(doc in pages for doc in docs), case["id"]
            gold = "\n".join(pages[doc] for doc in docs)
            assert has_fact(gold, case["facts"]), case["id"]
            assert case.get("yes_no") in (None, "yes", "no"), case["id"]
        if case["kind"] == "shopping":
            assert all(re.search(rf"^{re.escape(p)},", catalog, re.MULTILINE)
                       for p in case.get("products", [])), case["id"]


def test_demo_cases_get_a_stable_split_from_their_id():
    test, tune = load_cases("demo", "test"), load_cases("demo", "tune")
    assert test and tune
    assert len(test) + len(tune) == len(load_cases("demo", "all"))
    assert [c["id"] for c in load_cases("demo", "test")] == [c["id"] for c in test]


def test_both_case_readers_name_the_file_and_line_of_a_bad_case(tmp_path, monkeypatch):
    from gen.evaluation import chat, shops
    from shop.errors import InvalidInput

    path = tmp_path / "cases.jsonl"
    good = '{"id": "a", "kind": "support", "question": "how long?"}\n\n'
    path.write_text(good + "{oops\n")
    monkeypatch.setattr(shops, "DEMO_CASES", path)
    for load in (chat.load_cases, lambda p: shops.load_cases("demo", "all")):
        with pytest.raises(InvalidInput, match=r"cases.jsonl:3: not JSON"):
            load(path)
    path.write_text(good + '{"kind": "support"}\n')
    with pytest.raises(InvalidInput, match=r"cases.jsonl:3: needs kind support\|product and a"):
        chat.load_cases(path)
    with pytest.raises(InvalidInput, match=r"cases.jsonl:3: needs an id, a question and a kind"):
        shops.load_cases("demo", "all")
    path.write_text(good)
    assert chat.load_cases(path) == shops.load_cases("demo", "all") == [
        {"id": "a", "kind": "support", "question": "how long?"}]


def test_right_answer_has_fact_citation_and_nothing_false():
    reply = ChatReply(answer="You can return unopened items within 60 days of delivery.\n\n"
                             "Sources: [1] Returns", citations=_cite("returns"))
    verdict = judge(_case(), reply, DOCS)
    assert verdict.fact and verdict.cited and verdict.routed
    assert verdict.false_statements == []


def test_a_number_from_another_page_is_false_though_that_page_is_cited():
    # the chat's Verifier reads the cited page and would pass this; the gold page says 60 days
    reply = ChatReply(answer="Expedited shipping takes 2 business days and costs $12.99.",
                      citations=_cite("shipping"))
    verdict = judge(_case(), reply, DOCS)
    assert not verdict.fact and not verdict.cited
    assert any("12.99" in p for p in verdict.false_statements)
    assert any("number 2 " in p for p in verdict.false_statements)


def test_number_words_countries_and_opposite_yes_no_are_false():
    case = _case(question="can i return from canada for free?", yes_no="no",
                 facts=[["$7.99"]])
    reply = ChatReply(answer="Yes, returns from Mexico are free within thirty days.",
                      citations=_cite("returns"))
    problems = judge(case, reply, DOCS).false_statements
    assert any("country MX" in p for p in problems)
    assert any("number 30" in p for p in problems)
    assert any("says yes" in p for p in problems)
    fine = ChatReply(answer="No, a return from Canada costs $7.99.", citations=_cite("returns"))
    assert judge(case, fine, DOCS).false_statements == []


def test_german_amounts_and_countries_are_read_in_the_shop_language():
    docs = {"versand": "| Österreich | 6,90 € | 2-4 Werktage |"}
    case = {"id": "d1", "kind": "support", "question": "versand nach österreich?",
            "doc": "versand", "facts": [["6,90 €"]]}
    right = ChatReply(answer="Nach Österreich kostet der Versand 6,90 €.", citations=_cite("versand"))
    wrong = ChatReply(answer="In die Schweiz kostet der Versand 14,90 €.", citations=_cite("versand"))
    assert judge(case, right, docs, language="de", locale="de-DE").false_statements == []
    problems = judge(case, wrong, docs, language="de", locale="de-DE").false_statements
    assert any("14.9 EUR" in p for p in problems) and any("country CH" in p for p in problems)


def test_routing_is_scored_per_kind():
    handoff = {"id": "h1", "kind": "handoff", "question": "where is my order 123?"}
    shopping = {"id": "p1", "kind": "shopping", "question": "any leashes?", "available": True,
                "products": ["x1"]}
    verdicts = [
        judge(handoff, ChatReply(answer="A colleague will help.", handoff=True, intent="handoff"),
              DOCS),
        judge(shopping, ChatReply(answer="Here are some.", intent="shopping",
                                  products=[{"id": "x1"}]), DOCS),
        judge(_case(), ChatReply(answer="Here are some.", intent="shopping"), DOCS),
    ]
    scores = summarize(verdicts)
    assert scores["routing_by_kind"] == {"support": 0.0, "shopping": 1.0, "handoff": 1.0}
    assert scores["key_fact_share"] == 0.0 and scores["shopping_share"] == 1.0
    assert answer_body("A.\n\nLinks: x") == "A."


@pytest.mark.slow
def test_cli_eval_chat_on_one_shop_reports_the_fields(monkeypatch, tmp_path, model_cache):
    from shop.settings import Settings
    from ui.cli import app
    from ui.context import ShopContext

    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache)
    monkeypatch.setattr("ui.context._DEFAULT", ShopContext(settings))

    result = CliRunner().invoke(app, ["eval", "chat", "--shop", "pawsome", "--split", "test",
                                      "--mode", "extractive", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    scores = report["shops"]["pawsome"]
    for key in ("key_fact_share", "citation_share", "routing_accuracy", "routing_by_kind",
                "false_statements", "cases"):
        assert key in scores
    assert scores["cases"] == len(load_cases("pawsome", "test"))
    assert {c["id"] for c in report["cases"]["pawsome"]} == \
        {c["id"] for c in load_cases("pawsome", "test")}
