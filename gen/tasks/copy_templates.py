"""The last resort of ad copy: variants built from catalog facts alone (name, kind, price,
the campaign's offer), tried in order until one passes every check."""

from __future__ import annotations

from gen.checks.guardrails import Facts
from gen.prompts import BrandVoice
from gen.sources import price_text


def short_name(title: str) -> str:
    return title.split(" - ")[0].strip()


def fallback_candidates(facts: Facts, channel: str, brand: BrandVoice,
                        category: str) -> list[dict[str, str]]:
    product = facts.products[0]
    name = short_name(product.title)
    bare = " ".join(name.split()[1:]) or name  # without the brand
    kind = category.replace("-", " ")
    price = price_text(product)
    offer = ""
    if facts.discount_percent:
        offer = f" {facts.discount_percent:g}% off"
        if facts.discount_code:
            offer += f" with code {facts.discount_code}"
        offer += "."
    shop = brand.shop_name
    if channel == "search":
        heads = [name, bare, f"Shop {bare}", f"{bare} at {shop}", f"New {kind}",
                 f"{kind.title()} for every day", f"Find your {kind}"]
        descs = [f"{name} for {price}.{offer} Order online at {shop}.",
                 f"Get the {bare} for {price}.{offer} Free advice from our team.",
                 f"{name}: made to be used. {price}.{offer}",
                 f"Browse {kind} at {shop}. The {bare} is {price}.{offer}"]
        return [{"headline": h, "description": descs[i % len(descs)]}
                for i, h in enumerate(heads)]
    if channel == "display":
        return [{"headline": h} for h in
                [name, f"Meet the {bare}", f"{bare}: {price}", f"Ready when you are: {bare}",
                 f"New {kind} at {shop}"]]
    texts = [f"The {name} is here for {price}.{offer} Find it at {shop}.",
             f"Ready for something new? The {bare} costs {price}.{offer}",
             f"New at {shop}: {name}, {price}.{offer}",
             f"Treat yourself to the {bare}. {price} at {shop}.{offer}",
             f"Made to last: {name}. Now {price}.{offer}"]
    return [{"text": t.replace("..", ".")} for t in texts]
