"""Nothing outside shop/demo*, data/ and tests/ knows the demo shop (DESIGN.md, "Any shop").

The demo's own words are read from its data: the brands, product lines, categories and product
nouns of data/demo/catalog.json, the titles, headings and table labels of its help pages
(data/demo/kb/*.md) and its identity (shop.demo.DEMO_IDENTITY). Every code and prompt file is
scanned for them, whole words, compared by Snowball stem (so "jackets" is "jacket" and
"resoling" is "resole"). Words all shops share (returns, delivery, payment, sizes) and ordinary
English words that happen to name a demo line ("Core", "Spring", "Rest") are not demo words.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import Stemmer

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
SCANNED_DIRS = ["gen", "retrieval", "recsys", "ui", "prompts", "campaigns", "experiments",
                "bench", "shop"]
SCANNED_SUFFIXES = {".py", ".toml", ".html", ".js", ".css", ".jinja", ".j2", ".mako", ".txt"}

STOPWORDS = """
a about after all and are as at before between but by can cannot do during for from has have
how if in is it its my no not of off on once other our own per that the to we what when where
why with within you your yourself
"""
# Vocabulary every shop uses (orders, money, delivery, payment, help pages, countries),
# whatever it sells.
SHARED = """
abroad access account address amount arrival arrived available back bank benefit better
browse browser business buying cancel cancelling card change changing charge charged chart check
choose choosing claim click collect combining common condition contact conversion corrections
cost countries country covered credit currency customer customs cut damage damaged data day
declined delay delivery destination did difference discount domestic drop duty early earn
email eur everyday exchange exchanging expect express fail fast fault faulty feet fit free full
get gift guide happen history home hour include international invoice item keep late later
leave limit live locker long lost main make marketing material measure member men method
minute money next open opening option order outside packaging paid parcel partial pay payment
period personalisation phone point policy postal prepayment price privacy problem product
professional programme question quote reason receive recommend refund remedy replace reporting
reserved restriction return right sale scheme search section security send service shipping
shop shipped size something specialist standard step still stop store take tell time timeline
topic track tracking transcript transfer twice under use using vat waiting want warranty
unisex withdrawal women wrong xxl
canada denmark finland germany kingdom netherlands norway sweden switzerland united states
american
"""
# Ordinary English (or programming) words that happen to be demo line, brand or product names.
ORDINARY = """
clothes clothing fleece insulation jersey kitchen liner lumen merino packable rechargeable repair
softshell waterproof
appear apple ask assess bead birthday bonus carbon cell channel chat close fly foam handle hole
ideal inflate instalment leg little match mini patch rain seam slider studio tape titanium wash
alder aqua aurora bastion birch cadence drizzle ember fell granite gravel hearth heath hibernate
ledge loft monsoon moss nomad polar puddle rover sprout squall storm tidal tunnel
air alpine approach aura balance base beam bag bib block bottle briefs brook bunk care cloud
collapsible commuter compact cook core crew cushion dawn dome down drift drying equipment family
fibre filter flare flow fold folding frame glide grid ground half hand heel insulation kettle
kid layer lee light lock long mat mid mountain neck night pack peak person pile pot promise
rapid rectangular rest running self set shell short sleeve sleeping sol spark spoke spring
sprint stone storage stride strap suit summit swift synthetic tank telescopic top trying water
weight width works zip
"""
# Words whose stem is a demo word's but that mean something else.
ORDINARY_FORMS = {"trailing"}
ORDINARY_PAIRS = {("synthetic", "insulation")}  # a material of any shop's clothing
STEM = Stemmer.Stemmer("english").stemWord
WORD = re.compile(r"[^\W\d_]+")


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _stems(text: str) -> list[str]:
    return [STEM(w) for w in WORD.findall(text.lower().replace("'", ""))]


def _names() -> list[str]:
    """Every name the demo shop gives something: brands, lines, categories, products, pages."""
    from shop.demo import DEMO_IDENTITY

    vocab = json.loads((DEMO / "catalog.json").read_text(encoding="utf-8"))
    names = [b["name"] for b in vocab["brands"]]
    for category in vocab["categories"]:
        names += [category["name"], *category["lines"]]
        names += [n if isinstance(n, str) else n["name"] for n in category["nouns"]]
    for page in sorted((DEMO / "kb").glob("*.md")):
        names.append(page.stem.replace("-", " "))
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                names.append(line.lstrip("#"))
            elif line.startswith("|") and not line.startswith("| ---"):
                names.append(line.split("|")[1])  # a table row's label ("Boot resoling")
    identity = [DEMO_IDENTITY["shop_name"], DEMO_IDENTITY["shop_postal_address"]]
    return names + identity + [re.sub(r"https?://|\.example.*", "", DEMO_IDENTITY["shop_url"])]


def demo_terms() -> tuple[set[str], set[tuple[str, str]]]:
    """(demo words, demo two-word names) as stems: a name's words that are neither shared nor
    ordinary, and the adjacent pairs of a name's other words unless both are shared ("price
    match", "sleeping bag", but not "gift card"), pairs as singular words, not stems."""
    stop, shared, ordinary = (set(_stems(text)) for text in (STOPWORDS, SHARED, ORDINARY))
    shared |= stop
    words, pairs = set(), set()
    for name in (part for name in _names() for part in re.split(r"[:;,.()]", name)):
        plain = [_singular(w) for w in WORD.findall(name.lower().replace("'", ""))]
        stems = [STEM(w) for w in plain]
        words |= {s for s in stems if s not in shared | ordinary and len(s) > 2}
        kept = [s in shared | ordinary and s not in stop for s in stems]
        pairs |= {(plain[i], plain[i + 1]) for i in range(len(plain) - 1)
                  if kept[i] and kept[i + 1] and not (stems[i] in shared and stems[i + 1] in shared)}
    pairs -= ORDINARY_PAIRS
    return words, pairs


def scanned_files() -> list[Path]:
    files = []
    for folder in SCANNED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            relative = path.relative_to(ROOT)
            if path.suffix in SCANNED_SUFFIXES and not relative.as_posix().startswith("shop/demo"):
                files.append(path)
    return files


def find_demo_words(text: str, words: set[str], pairs: set[tuple[str, str]]) -> list[str]:
    """The demo words and pairs in one line, whole words only (an identifier such as top_k,
    sleeping_bag_id or helmet-compatible is one word and matches nothing)."""
    tokens = [t.strip("-") for t in re.findall(r"[\w-]+", text.lower().replace("'", ""))]
    tokens = [t for t in tokens if WORD.fullmatch(t)]
    hits = [t for t in tokens if STEM(t) in words and t not in ORDINARY_FORMS]
    plain = [_singular(t) for t in tokens]
    hits += [f"{tokens[i]} {tokens[i + 1]}" for i in range(len(tokens) - 1)
             if (plain[i], plain[i + 1]) in pairs]
    return hits


def test_the_demo_vocabulary_is_read_from_the_demo_data():
    words, pairs = demo_terms()
    for word in ["fjellrapp", "northwind", "jacket", "tent", "boot", "helmet", "daypack",
                 "klarna", "resol", "loyalti", "puffer", "outdoor", "trail"]:
        assert word in words, word
    for pair in [("sleeping", "bag"), ("price", "match")]:
        assert pair in pairs, pair
    for general in ["return", "refund", "ship", "warranti", "payment", "rest", "core"]:
        assert general not in words, general


def test_the_scan_finds_demo_words_and_only_whole_words():
    words, pairs = demo_terms()
    assert find_demo_words("A warm Down Jackets for the outdoors", words, pairs) == [
        "jackets", "outdoors"]
    assert find_demo_words("we price match; a sleeping bag", words, pairs) == [
        "price match", "sleeping bag"]
    assert find_demo_words("top_k = jacket_id; return the refund, trailing", words, pairs) == []


def test_no_code_or_prompt_file_names_the_demo_shop():
    words, pairs = demo_terms()
    files = scanned_files()
    # the files that once held the demo's identity and categories are still scanned
    assert {"shop/settings.py", "ui/widget/demo.html"} <= {
        path.relative_to(ROOT).as_posix() for path in files}
    found = [f"{path.relative_to(ROOT)}:{number}:{hit}"
             for path in files
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             for hit in find_demo_words(line, words, pairs)]
    assert not found, f"{len(found)} demo words outside shop/demo*:\n" + "\n".join(found)
