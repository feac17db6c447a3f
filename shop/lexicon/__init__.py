"""The words all shops share, per language: the bottom of the stack, below retrieval and gen.

Tokens, stems and stopwords (Snowball via PyStemmer, bm25s' stopword lists), number words
(text2num, plus a data file where it has no language), money (Babel: symbols, names and
formats per locale), countries (pycountry and Babel's territory names), units and fuzzy
matching (rapidfuzz). Per-language data that no library carries lives in the `<lang>.toml`
files beside this module. Nothing here knows any one shop: a shop's own words come from its
catalog and help pages.

Callers import the submodule they need (`from shop.lexicon.money import format_money`).
"""

LANGUAGES = ("en", "de", "fr", "nl", "sv", "es")  # every submodule supports at least these
