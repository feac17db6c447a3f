"""The demo shop's reviews, made from its purchase events: some buyers (those whose locale is
English or German) review what they bought, in their own language, a few days after buying.

Each product has a hidden character: one or two aspects it is good at and, for about a third
of the products, one it is poor at (a jacket that runs small, boots that come apart). A
review mentions one to three aspects, mostly the product's notable ones, each praised or
criticised accordingly, and its stars follow what it says. So the studio's Reviews tab and
the copy check have real differences between products to show.
"""

from __future__ import annotations

import random
from datetime import datetime

from shop.demo_events import DAY, END, iso

REVIEW_COLUMNS = ["customer_id", "product_id", "rating", "text", "created_at", "language"]
REVIEW_SHARE = 0.8  # of the purchases by English or German speaking customers

WEARABLE = ("fit", "size", "material", "comfort", "durability", "value", "delivery")
GEAR = ("quality", "durability", "ease_of_use", "value", "delivery", "packaging")

PHRASES = {
    "en": {
        "fit": (["Sits really well, the cut is spot on.", "The shape suits me, nothing flaps."],
                ["The cut is odd, baggy at the waist and tight on the arms.",
                 "Sits awkwardly on the shoulders."]),
        "size": (["Took my usual size and it was right.", "Sizing is exactly as the chart says."],
                 ["Comes up a size small, I had to exchange it.",
                  "Much smaller than my usual size."]),
        "material": (["The fabric feels soft and substantial.", "Lovely material, breathes well."],
                     ["The fabric feels thin and cheap.", "Scratchy material, not nice on skin."]),
        "comfort": (["Comfortable from the first day.", "So comfortable I forget I'm wearing it."],
                    ["Started to chafe after an hour.", "Uncomfortable on longer days."]),
        "durability": (["Still like new after months of use.", "Has held up to a lot of abuse."],
                       ["A seam came apart after a few weeks.", "Worn through far too quickly."]),
        "value": (["Good value for the price.", "Worth the money."],
                  ["Overpriced for what it is.", "Too expensive for the quality."]),
        "quality": (["Very well made, solid all round.", "The build quality is excellent."],
                    ["Feels cheaply made.", "Poor workmanship, rough edges everywhere."]),
        "ease_of_use": (["Easy to set up and use.", "Simple to use, no manual needed."],
                        ["Fiddly and awkward to use.", "The instructions make no sense."]),
        "delivery": (["Delivery was quick.", "Arrived two days after I ordered."],
                     ["Delivery took much longer than promised.", "The parcel came late."]),
        "packaging": (["Well packed, no plastic.", "Arrived nicely packaged."],
                      ["The box was battered on arrival.", "Far too much packaging."]),
    },
    "de": {
        "fit": (["Sitzt richtig gut, der Schnitt passt.", "Die Form steht mir, nichts flattert."],
                ["Komischer Schnitt, weit an der Taille und eng an den Armen.",
                 "Sitzt an den Schultern unglücklich."]),
        "size": (["Meine übliche Größe passt genau.", "Die Größen stimmen mit der Tabelle."],
                 ["Fällt eine Nummer kleiner aus, ich musste umtauschen.",
                  "Viel kleiner als meine normale Größe."]),
        "material": (["Der Stoff fühlt sich weich und kräftig an.", "Tolles Material, atmet gut."],
                     ["Der Stoff wirkt dünn und billig.", "Kratziges Material, unangenehm."]),
        "comfort": (["Vom ersten Tag an bequem.", "So bequem, dass ich es kaum merke."],
                    ["Scheuert schon nach einer Stunde.", "Unbequem an langen Tagen."]),
        "durability": (["Nach Monaten noch wie neu.", "Hat schon einiges ausgehalten."],
                       ["Nach wenigen Wochen ist eine Naht aufgegangen.",
                        "Viel zu schnell durchgescheuert."]),
        "value": (["Gutes Preis-Leistungs-Verhältnis.", "Das Geld wert."],
                  ["Für das Gebotene zu teuer.", "Zu teuer für die Qualität."]),
        "quality": (["Sehr gut verarbeitet, rundum solide.", "Die Verarbeitung ist top."],
                    ["Wirkt billig gemacht.", "Schlechte Verarbeitung, überall raue Kanten."]),
        "ease_of_use": (["Einfach aufzubauen und zu benutzen.", "Kinderleicht zu bedienen."],
                        ["Fummelig und umständlich.", "Die Anleitung ist unverständlich."]),
        "delivery": (["Die Lieferung ging schnell.", "Zwei Tage nach der Bestellung da."],
                     ["Die Lieferung hat viel länger gedauert als versprochen.",
                      "Das Paket kam zu spät."]),
        "packaging": (["Gut verpackt, ohne Plastik.", "Schön verpackt angekommen."],
                      ["Der Karton war bei der Ankunft ramponiert.", "Viel zu viel Verpackung."]),
    },
}
OPENERS = {"en": ["Bought this for a trip.", "Second one I've bought.", ""],
           "de": ["Für eine Reise gekauft.", "Schon mein zweites.", ""]}


def _character(rng: random.Random, aspects: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(good aspects, poor aspects) of one product."""
    own = [a for a in aspects if a != "delivery"]
    good = set(rng.sample(own, rng.randint(1, 2)))
    poor = {rng.choice([a for a in own if a not in good])} if rng.random() < 0.35 else set()
    return good, poor


def make_reviews(rng: random.Random, events: list[list], customers: list[list],
                 wearable: dict[str, bool]) -> list[list]:
    """Rows of REVIEW_COLUMNS from event rows (EVENT_COLUMNS of shop/demo.py) and customer
    rows (CUSTOMER_COLUMNS: id first, locale fourth); `wearable`: product -> sized clothing
    or shoes (else gear)."""
    language = {row[0]: row[3][:2] for row in customers if row[3][:2] in PHRASES}
    characters: dict[str, tuple[set[str], set[str]]] = {}
    rows, reviewed = [], set()
    for _key, customer, kind, product, _query, _session, stamp in events:
        if kind != "purchase" or customer not in language or (customer, product) in reviewed \
                or rng.random() > REVIEW_SHARE:
            continue
        reviewed.add((customer, product))  # bought again: reviewed once
        aspects = WEARABLE if wearable.get(product) else GEAR
        if product not in characters:
            characters[product] = _character(rng, aspects)
        good, poor = characters[product]
        notable = sorted(good | poor)
        said = set(rng.sample(notable, min(len(notable), rng.randint(1, 2))))
        if rng.random() < 0.4:
            said.add(rng.choice(aspects))
        words = PHRASES[language[customer]]
        sentences, score = [rng.choice(OPENERS[language[customer]])], 0.0
        for aspect in sorted(said, key=lambda a: rng.random()):
            positive = rng.random() < (0.15 if aspect in poor else 0.9 if aspect in good
                                       else 0.7)
            sentences.append(rng.choice(words[aspect][0 if positive else 1]))
            score += 1.0 if positive else -1.3
        rating = max(1, min(5, round(3.6 + 0.9 * score / len(said) + rng.gauss(0, 0.5))))
        bought = int(datetime.fromisoformat(stamp).timestamp())
        written = min(bought + rng.randint(2 * DAY, 20 * DAY), END)  # never after the history
        rows.append([customer, product, rating, " ".join(s for s in sentences if s),
                     iso(written), language[customer]])
    return rows
