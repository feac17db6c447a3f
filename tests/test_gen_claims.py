"""Attribute claims in copy and emails (gen/checks/claims.py), best-of-N drafts (gen/tasks/best_of.py) and
answer fields held to their format (gen/tasks/fields.py).

Fast tests use a scripted engine (queued Results, with log-probs and finish reasons); the
`slow` tests run the real SmolLM2 over the demo shop.
"""

from __future__ import annotations

import pytest

from gen.checks.claims import (
    ClaimChecker,
    ClaimVocabulary,
    checker_for,
    remove_unsupported,
    stems,
    whole_sentences,
)
from gen.checks.guardrails import Facts, ProductFact
from gen.engines import Engine, FakeEngine, GenerationRequest, Result
from gen.prompts import default_library
from gen.tasks.ad_copy import AdCopywriter, CopyOptions
from gen.tasks.best_of import Candidate, overlap, pick
from gen.tasks.text import cut_words

DOWN_JACKET = (
    "Warmth for its weight is the point of this down jacket: 700-fill-power responsibly "
    "sourced goose down in stitched baffles. It weighs 720 g and compresses into its own "
    "pocket. color: forest green, material: goose down, gender: women, sizes: ['S', 'M', 'L'], "
    "weight_g: 720, comfort_c: -15, shell: 20D recycled nylon")
CATALOG = [  # (description, attributes, category) of a small shop: its own words are claims
    (DOWN_JACKET, {"color": "forest green", "material": "goose down", "shell": "20D nylon"},
     "insulated-jackets"),
    ("A rain shell with a DryStride membrane.", {"material": "nylon ripstop",
                                                 "color": "moss", "waterproof": True},
     "rain-jackets"),
    ("A wool beanie.", {"material": "merino wool", "colour": "heather grey"}, "hats"),
    ("Leather boots with a sticky sole.", {"upper": "nubuck leather", "outsole": "rubber"},
     "hiking-boots"),
]


@pytest.fixture(scope="module")
def vocabulary() -> ClaimVocabulary:
    return ClaimVocabulary.from_catalog(CATALOG)


def down_facts() -> Facts:
    return Facts(products=[ProductFact("P1", "Vinterhav Women's Ember Down Jacket - Forest Green",
                                       249.0, stock=12, text=DOWN_JACKET)])


@pytest.fixture
def checker(vocabulary) -> ClaimChecker:
    return checker_for(down_facts(), vocabulary, ["insulated-jackets"])


def kinds(checker: ClaimChecker, text: str) -> list[tuple[str, str]]:
    return [(v.kind, v.found) for v in checker.violations(text)]


def test_vocabulary_is_built_in_terms_plus_the_catalogs_own(vocabulary):
    terms = vocabulary.terms  # keyed by Snowball stems

    def kind(phrase: str) -> str | None:
        return terms.get(" ".join(stems(phrase)))

    assert kind("wool") == "material" and kind("leather") == "material"  # built in
    assert kind("moss") == "colour" and kind("drystride") == "feature"  # the catalog's
    assert kind("waterproof") == "feature" and kind("down") is None  # "slow down" is no claim
    assert kind("hiking boots") == kind("boots") == "category"
    assert len(ClaimVocabulary.builtin().terms) < len(terms)


def test_materials_colours_features_sizes_and_audiences_are_checked(checker):
    assert kinds(checker, "Its warmth is the wool, and the leather keeps it dry.") == [
        ("material", "wool"), ("material", "leather")]
    assert kinds(checker, "Goose down in forest green, made for women.") == []
    assert kinds(checker, "A duck down jacket in navy for men.") == [
        ("material", "duck down"), ("colour", "navy"), ("audience", "men")]
    assert kinds(checker, "Waterproof, with a DryStride membrane.") == [
        ("feature", "waterproof"), ("feature", "drystride")]
    assert kinds(checker, "It comes in sizes S to XL.") == [("size", "XL")]
    assert kinds(checker, "No wool and no leather, just down.") == []  # negated: no claim
    assert kinds(checker, "Slow down and enjoy the view.") == []


def test_product_kinds_and_each_products_own_attributes(checker, vocabulary):
    assert kinds(checker, "Wear it over a fleece with your hiking boots.") == [
        ("material", "fleece"), ("category", "hiking boots")]
    beanie = ProductFact("P3", "Mossgrove Merino Beanie - Heather Grey", 29.0,
                         text="A wool beanie. material: merino wool, colour: heather grey")
    both = checker_for(Facts(products=[down_facts().products[0], beanie]), vocabulary,
                       ["insulated-jackets", "hats"])
    # a sentence that names one product is checked against that product alone
    assert kinds(both, "The Ember jacket is merino wool.") == [("material", "merino wool")]
    assert kinds(both, "The Mossgrove beanie is merino wool, the Ember jacket goose down.") == []
    assert kinds(both, "The ember jacket is merino wool.") == []  # no name: either product


def test_numbers_with_units_must_come_from_the_product(checker):
    assert kinds(checker, "700-fill goose down, 720 g, rated to -15 °C, 20D shell.") == []
    assert kinds(checker, "It weighs 900 g and keeps you warm to -25 °C.") == [
        ("number", "900 g"), ("number", "-25 °C")]
    assert kinds(checker, "A three-layer shell.") == [("number", "three-layer")]
    assert kinds(checker, "Only 249.00 EUR, 15% off.") == []  # prices: guardrails.py's job


def test_unsupported_clauses_and_sentences_are_removed_and_counted(checker):
    text = ("Warm goose down, with a wool lining. Its warmth is the wool. "
            "It packs into its own pocket.")
    repair = remove_unsupported(text, checker)
    assert repair.text == "Warm goose down. It packs into its own pocket."
    assert [v.found for v in repair.before] == ["wool", "wool"] and repair.after == []
    assert repair.removed == ["with a wool lining.", "Its warmth is the wool."]


def test_cut_sentences_never_ship():
    assert whole_sentences("Warm goose down. Its warmth is the leather p", cut=True) == \
        "Warm goose down."
    assert whole_sentences("Warm goose down. Made for the", cut=False) == "Warm goose down."
    assert whole_sentences("Warm goose down. Made for cold days", cut=False) == \
        "Warm goose down. Made for cold days"
    assert cut_words("Get the Ember jacket now. Free advice from our team today.", 40) == \
        "Get the Ember jacket now."
    assert cut_words("Get the Ember jacket for your next trip and the rest", 47) == \
        "Get the Ember jacket for your next trip"


class ScriptedEngine(Engine):
    """Replies with queued Results (text, finish reason, log-prob); records batch sizes."""

    name = model_name = "scripted"

    def __init__(self, results: list[Result]):
        self.results, self.batches = list(results), []

    def generate(self, requests: list[GenerationRequest]) -> list[Result]:
        self.batches.append(len(requests))
        return [self.results.pop(0) if self.results else Result("") for _ in requests]


def writer(engine: Engine, vocabulary: ClaimVocabulary) -> AdCopywriter:
    library = default_library()
    return AdCopywriter(engine, library, library.brand("default", "Northwind"), {"example.com"},
                        vocabulary)


def test_copy_naming_a_material_the_product_lacks_is_caught(vocabulary):
    engine = FakeEngine(replies=[
        ("HEADLINE: Ember Down Jacket\nDESCRIPTION: Its warmth is the wool. The Ember jacket "
         "keeps you warm for 249.00 EUR."),
        "HEADLINE: Ember in leather\nDESCRIPTION: A leather Ember jacket made for cold days."])
    variants = writer(engine, vocabulary).write(
        CopyOptions(product_ids=["P1"], variants=2, candidates=1), down_facts(),
        "insulated-jackets")
    first, second = variants
    assert "material: 'wool'" in first.violations_before == first.claims_before
    assert first.source == "repaired" and "wool" not in str(first.fields)
    assert first.fields["description"] == "The Ember jacket keeps you warm for 249.00 EUR."
    # the leather is in the headline and the description's only sentence: nothing usable left
    assert second.source in ("fallback", "cut") and "leather" not in str(second.fields)
    for variant in variants:
        assert variant.problems == []
    assert engine.batches == [2, 1]  # the failed slot got one more round, then the template


def test_best_of_n_keeps_the_most_likely_passing_distinct_drafts(vocabulary):
    engine = ScriptedEngine([
        Result("HEADLINE: Ember Down Jacket\nDESCRIPTION: Goose down Ember jacket in forest "
               "green.", logprob=-1.6),
        Result("HEADLINE: Ember Down Jacket\nDESCRIPTION: The Ember jacket holds 700-fill "
               "goose down.", logprob=-0.9),  # same headline, more likely: wins the slot
        Result("HEADLINE: Warm in the cold\nDESCRIPTION: The Ember jacket weighs 720 g. Its "
               "down keeps you warm and", finish_reason="length", logprob=-0.4),  # cut
        Result("HEADLINE: Wool for winter\nDESCRIPTION: The Ember jacket in wool.",
               logprob=-0.1),  # most likely, but a false material: never picked
    ])
    variants = writer(engine, vocabulary).write(
        CopyOptions(product_ids=["P1"], variants=2, candidates=2), down_facts(),
        "insulated-jackets")
    assert engine.batches == [4]
    assert [v.fields["headline"] for v in variants] == ["Ember Down Jacket", "Warm in the cold"]
    assert variants[0].source == "model" and variants[0].logprob == -0.9
    # the unfinished sentence the token budget cut is gone, so the draft counts as repaired
    assert variants[1].fields["description"] == "The Ember jacket weighs 720 g."
    assert variants[1].source == "repaired"


def test_pick_prefers_fewer_repairs_then_likelihood_then_distinctness():
    pool = [Candidate("a", "warm down jacket", 0.0, -1.2),
            Candidate("b", "warm down jacket for winter", 0.0, -1.0),
            Candidate("c", "cosy in the cold", 1.0, -0.5),
            Candidate("d", "light and packable", 0.0, -1.1)]
    assert [c.value for c in pick(pool, 2)] == ["b", "d"]  # "a" overlaps "b" too much
    assert [c.value for c in pick(pool, 1, taken=["warm down jacket for winter"])] == ["d"]
    assert overlap("warm down jacket", "warm down jacket") == 1.0


@pytest.mark.slow
def test_real_copy_and_emails_ship_no_unsupported_claims(real_llm, demo_context):
    from gen.engines.transformers.engine import TransformersEngine
    from gen.service import GenService
    from gen.sources import build_facts, load_products

    engine = TransformersEngine(real_llm, max_batch=16)
    service = GenService(demo_context.settings, demo_context.store, engine=engine)
    result = service.copy(CopyOptions(product_ids=["P0034"], channel="search", variants=2,
                                      candidates=3), save=False)
    product = load_products(service.store, ["P0034"])[0]
    claims = checker_for(build_facts(service.store, [product]), service.claim_vocabulary,
                         [product.category])
    for variant in result["products"][0]["variants"]:
        assert variant["problems"] == []
        assert variant["source"] in ("model", "repaired", "fallback", "cut")
        for value in variant["fields"].values():
            assert not claims.violations(value), value
    drafts = service.emails(["C00001", "C00002"], save=False, candidates=2)
    for draft in drafts:
        assert not draft.problems and draft.source in ("model", "repaired", "fallback")
        assert set(draft.parts) == {"subject", "intro"}
        assert draft.intro[-1] in ".!?"  # whole sentences only


def test_email_keeps_its_best_draft_and_ships_no_unsupported_claim(vocabulary):
    from types import SimpleNamespace

    from gen.tasks.email import EmailJob, EmailWriter
    from shop.settings import Settings

    library = default_library()
    product = SimpleNamespace(id="P1", title="Vinterhav Women's Ember Down Jacket",
                              category="insulated-jackets", attributes={"material": "goose down"},
                              price=249.0, currency="EUR", url="https://example.com/p/P1")
    customer = SimpleNamespace(id="C1", first_name="Ana", email="ana@example.com",
                               locale="en-GB", marketing_consent=True, unsubscribed_at=None)
    job = EmailJob(customer, [product, product], [], down_facts())
    engine = ScriptedEngine([
        Result("SUBJECT: Nothing"),  # no usable part: both fall back to the template
        Result("SUBJECT: Stay warm in the Ember jacket\nINTRO: The Ember jacket is made of wool. "
               "Its goose down keeps you warm on cold days.", logprob=-1.4),
        Result("SUBJECT: Your new Ember down jacket\nINTRO: Warm goose down in the Ember jacket. "
               "It packs into its own pocket.", logprob=-1.5),
    ])
    writer = EmailWriter(engine, library, library.brand("default", "Northwind"),
                         Settings(shop_url="https://example.com"), vocabulary, candidates=3)
    draft = writer.write_many([job])[0]
    assert engine.batches == [3, 1]  # one more call writes the first draft's "INTRO:" line
    # the third draft needed no repair; the second lost its wool sentence and costs more
    assert draft.source == "model" and draft.subject == "Your new Ember down jacket"
    assert "goose down" in draft.intro and draft.parts == {"subject": "model", "intro": "model"}
    assert draft.problems == [] and draft.claims_before == []
    second = writer.written(job, Result(
        "SUBJECT: Stay warm in the Ember jacket\nINTRO: The Ember jacket is made of wool. Its "
        "goose down keeps you warm on cold days."))
    assert second.claims_before == ["material: 'wool'"] and "wool" not in second.intro
    assert second.parts == {"subject": "model", "intro": "repaired"}
    cut = writer.written(job, Result("SUBJECT: Your new Ember down jacket keeps you wa",
                                     finish_reason="length"))
    assert cut.parts["subject"] == "fallback" and "wa" not in cut.subject.split()
    cut = writer.written(job, Result("SUBJECT: Your new Ember jacket\nINTRO: The Ember jacket "
                                     "is warm on cold days. Its down is the lig", finish_reason="length"))
    assert cut.intro == "The Ember jacket is warm on cold days." and cut.parts["intro"] == "repaired"


def test_a_draft_that_wanders_off_gets_its_next_label_written_by_code():
    from gen.tasks.fields import complete_fields

    engine = FakeEngine(replies=["Our Ember jacket keeps you warm.\nSUBJECT: again"])
    requests = [GenerationRequest.chat("system", "user", prefill="SUBJECT:", max_new_tokens=9)
                for _ in range(3)]
    first = [Result("SUBJECT: Warm days ahead\n\nSOUL: I am glad", completion_tokens=9,
                    finish_reason="length", logprob=-2.0),
             Result("SUBJECT: Warm days ahe", completion_tokens=9, finish_reason="length"),
             Result("SUBJECT: Warm days\nINTRO: The Ember jacket.", completion_tokens=6)]
    done = complete_fields(engine, requests, first, ["subject", "intro"], {"intro": 20})
    assert done[0].text == "SUBJECT: Warm days ahead\nINTRO: Our Ember jacket keeps you warm."
    assert engine.seen[0].messages[-1].content == "SUBJECT: Warm days ahead\nINTRO:"
    assert engine.seen[0].options.stop == ["\n"] and engine.seen[0].options.max_new_tokens == 20
    assert done[1:] == first[1:]  # cut inside the subject; or already whole: left as they are
