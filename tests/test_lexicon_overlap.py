"""The shared word overlap (shop/lexicon/overlap.py), compounds in BM25, cities read as their
country, and the picker's weights for pages in a language the embedder does not know."""

import numpy as np

from gen.tasks.answer import KnowledgeUnits
from gen.tasks.picker import fitted_weights
from gen.tasks.routing import Route
from retrieval.keyword import KeywordIndex
from shop.lexicon.overlap import TermIndex, with_parts
from shop.lexicon.places import with_countries_of_cities
from shop.lexicon.text import terms


def test_a_german_stem_matches_the_compounds_that_start_or_end_with_it():
    texts = ["Eine Abholung im Lager ist nicht möglich.", "Versandkostenfrei ab 39 €.",
             "Die Rücksendekosten trägt der Kunde."]
    index = TermIndex([terms(t, "de") for t in texts], "de")
    assert index.shares(terms("kann ich selber abholen?", "de"))[0] > 0
    assert index.shares(terms("versand", "de")).tolist() == [0.0, 1.0, 0.0]
    assert index.shares(terms("was kosten", "de"))[2] > 0  # "kost" ends "rucksendekost"
    assert index.shares(terms("versand", "de"), leave_out=1).tolist() == [0.0, 0.0, 0.0]


def test_english_stems_match_only_themselves():
    index = TermIndex([terms("a waterproof backpack", "en")], "en")
    assert index.shares(terms("water", "en"))[0] == 0.0  # no compounds read in English
    assert index.shares(terms("waterproof", "en"))[0] == 1.0


def test_shares_weigh_rare_stems_more_and_unknown_stems_count_against():
    texts = ["returns within 30 days", "returns are free", "we ship to norway"]
    index = TermIndex([terms(t, "en") for t in texts], "en")
    shares = index.shares(terms("returns to norway", "en"))
    assert shares[2] > shares[0] > 0  # "norway" is rarer than "return"
    assert np.all(index.shares(terms("unicorn", "en")) == 0)


def test_bm25_meets_a_compound_with_its_parts_on_both_sides():
    assert with_parts(["versandkost"], {"versand", "kost", "versandkost"}, "de") == \
        ["versandkost", "versand", "kost"]
    assert with_parts(["shipping"], {"ship"}, "en") == ["shipping"]
    index = KeywordIndex(["row", "other"], ["Österreich: Versandkosten 6,90 €",
                                            "Die Lieferung dauert 3 Tage"], "de")
    assert index.scores("Versand nach Österreich")[0] > 0
    index = KeywordIndex(["a", "b"], ["Versand in 2 Tagen", "Zahlung per Rechnung"], "de")
    assert index.scores("Versandkosten")[0] > 0  # the query's compound, split by the index


def test_a_city_is_read_as_its_country_in_the_shops_language():
    assert with_countries_of_cities("Rücksendung aus Wien?", "de").endswith("Österreich")
    assert with_countries_of_cities("i live in Oslo", "en").endswith("Norway")
    assert with_countries_of_cities("how long do returns take?", "en") == \
        "how long do returns take?"


def test_pages_in_a_language_the_embedder_does_not_know_are_picked_by_words():
    words = fitted_weights(words_only=True)
    assert words["dense"] == 0 and words["lexical"] > 0
    assert fitted_weights()["dense"] > 0

    def embed(texts):
        return np.ones((len(texts), 4)) / 2

    assert KnowledgeUnits(embed, "en").vectors_fit
    assert not KnowledgeUnits(embed, "de").vectors_fit
    assert KnowledgeUnits(embed, "de", embed_languages=["en", "de"]).vectors_fit
    assert not KnowledgeUnits(None, "en").vectors_fit


def test_shoppers_words_for_what_the_pages_hold_lean_a_close_call_to_the_pages():
    close = Route(p_support=0.45, kb_best=0.4, product_best=0.4, unanswerable=False,
                  pages_say=True)
    assert close.intent(False, False, True)[0] == "support"
    # naming a kind of product ("is that covered" about a <kind>) still leans to the pages;
    # asked as a shopping question ("do you have ...?"), it does not
    assert close.intent(False, True, True)[0] == "support"
    assert close.intent(False, True, True, shopping_form=True)[0] == "shopping"
    assert close.intent(False, False, False)[0] == "shopping"  # the pages found share nothing
    plain = Route(p_support=0.45, kb_best=0.4, product_best=0.4, unanswerable=False)
    assert plain.intent(False, False, True)[0] == "shopping"


def test_number_words_are_read_per_language_from_text2num_and_the_data_file():
    from shop.lexicon.numbers import number_value

    assert number_value("fourteen") == 14 and number_value("twenty-one") == 21
    assert number_value("dreißig", "de") == 30 and number_value("veertien", "nl") == 14
    assert number_value("tolv", "sv") == 12 and number_value("två", "sv") == 2
    assert number_value("twice") == 2 and number_value("30") == 30
    assert number_value("tent") is None and number_value("") is None


def test_a_german_compound_holds_its_parts_and_names_its_kind_by_its_last_part():
    from shop.lexicon.overlap import ends_with_kind, in_compound
    from shop.lexicon.text import stem

    def de(word: str) -> str:
        return stem(word, "de")

    assert in_compound(de("grün"), {de("grüntee")}, "de")  # the start of a compound
    assert not in_compound(de("grün"), {de("grüntee")}, "en")  # English writes no compounds
    assert ends_with_kind("Grüntee", de("tee"), de, "de")  # as written: "tee" ends "grüntee"
    assert ends_with_kind("gruentee", de("tee"), de, "de")  # a category slug spells ü as ue
    assert ends_with_kind("Tonkanne", de("kanne"), de, "de")  # as stemmed: "tonkann"
    assert not ends_with_kind("Teekanne", de("tee"), de, "de")  # a teapot is not a tea
    assert not ends_with_kind("Grüntee", de("tee"), de, "en")
