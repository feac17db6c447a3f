"""Built-in claim vocabulary for gen/checks/claims.py: common materials, colours and checkable features
of shop products in general (apparel, sports, home, kitchen, electronics, beauty), not any one
shop's words. The shop's own catalog adds its terms on top (ClaimVocabulary.from_catalog).

Subjective words ("warm", "light", "comfortable") are no claims: they cannot be checked.
"""

from __future__ import annotations


def _terms(text: str) -> list[str]:
    return [term.strip() for term in text.split(",") if term.strip()]


MATERIALS = _terms("""
wool, merino, merino wool, lambswool, cashmere, alpaca, mohair, angora, yak wool, camel hair,
silk, cotton, organic cotton, pima cotton, egyptian cotton, linen, flax, hemp, bamboo, jute,
ramie, sisal, leather, full-grain leather, top-grain leather, genuine leather, faux leather,
vegan leather, patent leather, suede, nubuck, fur, faux fur, shearling, sheepskin, goose down,
duck down, down fill, down-filled, down insulation, feather, fleece, microfleece,
sherpa, polyester, nylon, polyamide, elastane, spandex, lycra, acrylic, viscose,
rayon, lyocell, tencel, modal, cupro, polypropylene, polyurethane, pvc, vinyl, gore-tex,
neoprene, softshell, primaloft, thinsulate, cordura, ripstop, taffeta, canvas, denim,
corduroy, velvet, velour, satin, chiffon, tweed, flannel, twill, gabardine, mesh, rubber,
natural rubber, vibram, eva foam, memory foam, latex, silicone, plastic, polycarbonate,
titanium, aluminium, stainless steel, steel, carbon fibre, cast iron, copper, brass, bronze,
sterling silver, platinum, ceramic, porcelain, stoneware, earthenware, terracotta,
tempered glass, borosilicate, solid wood, oak, walnut, beech, pine, maple, teak, birch,
cedar, mahogany, acacia, rattan, wicker, cork, marble, concrete, cardboard, beeswax, soy wax,
graphite, kevlar, dyneema, tyvek, synthetic insulation
""")

COLOURS = _terms("""
red, blue, green, yellow, orange, purple, pink, black, white, grey, brown, beige, navy, teal,
turquoise, olive, khaki, burgundy, maroon, ivory, charcoal, lilac, lavender, violet, magenta,
mustard, ochre, rust, taupe, aqua, cyan, crimson, scarlet, emerald, cobalt, fuchsia, mauve,
plum, off-white, multicolour, multicoloured
""")

FEATURES = _terms("""
waterproof, water-resistant, water-repellent, windproof, wind-resistant, breathable,
insulated, seam-taped, taped seams, fully taped, pit zips, hood, hooded, helmet-compatible,
packable, stuff sack, reflective, uv protection, upf, quick-dry, quick-drying,
moisture-wicking, wicking, odour-resistant, anti-odour, antibacterial, antimicrobial,
four-way stretch, two-way stretch, recycled, organic, vegan, fair trade, bluesign, pfas-free,
pfc-free, bpa-free, phthalate-free, machine washable, hand wash only, dishwasher-safe,
oven-safe, microwave-safe, non-stick, induction, rechargeable, usb, usb-c, bluetooth,
wireless, cordless, solar-powered, waterproof zip, adjustable, removable, detachable,
convertible, foldable, collapsible, lockable, fireproof, flame-retardant, fleece-lined,
unlined, padded, gusseted, reinforced, lifetime warranty, free shipping, free delivery,
free returns, handmade, hand-made, responsibly sourced, fsc, gluten-free, lactose-free,
sugar-free, cruelty-free, hypoallergenic, fragrance-free, unscented, dwr, freestanding,
semi-freestanding, ultralight
""")

# Single words that are no claim alone ("slow down", "light as air"): only inside a phrase.
AMBIGUOUS = {"down", "light", "fill", "power", "blend", "layer", "fabric", "face", "shell",
             "finish", "laminate", "grade", "natural", "synthetic", "standard", "stretch",
             "solid", "full", "top", "event", "abs", "gel", "knit", "jersey", "crystal",
             "carbon", "foam", "iron", "tan", "camel", "cream", "mint", "sage", "peach",
             "salmon", "coral", "indigo", "rainbow", "slate", "granite", "wax", "paper",
             "gold", "silver", "chrome", "glass", "wood", "warranty", "guarantee", "lined",
             "certified", "thermal", "heated", "membrane", "pfas", "pfc"}

# Last words of catalog categories that name no kind of product of their own ("tote-bags":
# "bag" is in every handbag ad) - the whole category phrase is still a claim.
GENERIC_KINDS = {"bag", "bags", "pack", "packs", "set", "sets", "kit", "kits", "gear", "item",
                 "items", "accessories", "accessory", "tool", "tools", "care", "light", "lights",
                 "part", "parts", "cover", "covers", "case", "cases", "top", "tops", "layer",
                 "layers", "wear", "clothing", "apparel", "equipment", "essentials", "other",
                 "misc", "sale", "new", "home"}

# Phrases that hold a claim word without claiming anything.
NOT_CLAIMS = ("white water", "black friday", "silver lining", "gold standard", "green light",
              "red carpet", "carbon neutral", "carbon footprint", "rose gold", "golden hour",
              "true blue", "blue sky", "blue skies", "green spaces", "into the blue")

# A claim (key) is also supported by any of these in the source.
IMPLIED = {
    "water resistant": ["waterproof", "water repellent", "dwr", "hydrostatic"],
    "water repellent": ["waterproof", "dwr"],
    "wind resistant": ["windproof"],
    "insulated": ["insulation", "down", "primaloft", "thinsulate", "fill power"],
    "down fill": ["down"], "down filled": ["down"],
    "hooded": ["hood"], "taped seams": ["seam taped"], "fully taped": ["seam taped"],
    "quick drying": ["quick dry"], "wicking": ["moisture wicking"],
    "hand made": ["handmade"], "handmade": ["hand made"], "merino": ["merino wool"],
    "wool": ["merino", "lambswool", "cashmere"], "leather": ["nubuck", "suede"],
    "stainless steel": ["steel"], "aluminium": ["aluminum"],
}

# Attribute keys (any of their words) whose values name materials, colours or features.
MATERIAL_KEYS = {"material", "materials", "fabric", "fabrics", "shell", "lining", "liner",
                 "fill", "filling", "insulation", "upper", "sole", "outsole", "midsole",
                 "frame", "composition", "grip", "fibre", "fiber", "yarn", "body", "case",
                 "strap", "band", "blade", "handle", "base", "lid", "coating", "finish"}
COLOUR_KEYS = {"color", "colour", "colors", "colours", "colorway", "colourway", "shade"}
FEATURE_KEYS = {"feature", "features", "technology", "tech", "certification",
                "certifications", "closure", "hood", "membrane", "treatment", "construction",
                "lock", "system", "battery", "connectivity"}

# Who a product is for: claim group -> pattern over lower-cased text.
AUDIENCES = {
    "men": r"\bmen(?:'s)?\b|\bmale\b|\bgentlemen\b",
    "women": r"\bwomen(?:'s)?\b|\bwoman\b|\bladies\b|\bfemale\b",
    "kids": r"\bkids?\b|\bchild(?:ren)?\b|\bboys?\b|\bgirls?\b|\bjunior\b|\btoddlers?\b",
}

SPELLING = {"colour": "color", "grey": "gray", "aluminium": "aluminum", "fibre": "fiber",
            "odour": "odor", "litre": "liter", "metre": "meter", "multicolour": "multicolor",
            "multicoloured": "multicolored"}
