"""Ad copy: N distinct variants for a product, a channel and an audience.

The model drafts; code enforces. Each draft is cleaned, grounded against the catalog and the
campaign, shortened at clause boundaries, and checked. Drafts that still fail are regenerated
once with new seeds; what fails again is replaced by a variant built from catalog facts, and
only that last resort may be cut at a word boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gen.engine import Engine, GenerationRequest
from gen.guardrails import (
    Facts,
    grounding_violations,
    neutralize_untrusted,
    repair_grounding,
    strip_unsafe_links,
)
from gen.prompts import BrandVoice, PromptLibrary
from gen.sources import price_text

Channel = Literal["search", "social", "sms", "display"]
CHANNEL_LABELS = {"search": "search ad", "social": "social media post", "sms": "SMS message",
                  "display": "display banner headline"}
FIELDS = {"search": ["headline", "description"], "social": ["text"], "sms": ["text"],
          "display": ["headline"]}
MAX_TOKENS = {"search": 48, "social": 80, "sms": 56, "display": 24}
ANGLES = ["Focus on what the product does best.", "Focus on comfort and everyday use.",
          "Focus on the outdoors and the weather.", "Make it short and punchy.",
          "Speak to someone buying a gift.", "Focus on quality and materials.",
          "Use a question to open.", "Focus on value for the price."]


class CopyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_ids: list[str] = Field(min_length=1, max_length=10)
    channel: Channel = "search"
    variants: int = Field(default=3, ge=1, le=10)
    audience: str = Field(default="", max_length=200)
    tone: str | None = Field(default=None, max_length=200)
    campaign_id: str | None = None
    seed: int = 0
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)


@dataclass
class Variant:
    fields: dict[str, str]
    source: str  # model | regenerated | fallback | cut
    raw: str = ""
    violations_before: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # empty when every constraint holds

    def as_dict(self) -> dict:
        return {"fields": self.fields, "source": self.source, "problems": self.problems,
                "violations_before": self.violations_before}


def limits_for(channel: str, constraints: dict, brand: BrandVoice) -> dict[str, int]:
    limits = dict(constraints.get(channel, {}))
    if channel == "sms":  # the opt-out text is appended by code and counts towards 160
        limits["text"] = limits["text"] - len(brand.sms_opt_out) - 1
    return limits


# ---- parsing and cleaning ------------------------------------------------------------------

_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]")


def clean(text: str) -> str:
    text = _EMOJI.sub("", text)
    text = re.sub(r"\*\*|__|`|#\w+|</?data>", "", text)
    text = re.sub(r"^\s*(?:headline|description|text|subject|intro)\s*:\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text).strip().strip("\"'“”‘’ ")
    return text


def parse_fields(reply: str, names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in names:
        match = re.search(rf"^\W*{name}\W*:\s*(.+)$", reply, re.IGNORECASE | re.MULTILINE)
        if match:
            found[name] = clean(match.group(1))
    if len(names) == 1 and names[0] not in found:
        lines = [clean(line) for line in reply.splitlines() if clean(line)]
        if lines:
            found[names[0]] = " ".join(lines) if names[0] == "text" else lines[0]
    return found


def shorten(text: str, limit: int) -> str:
    """Shorten at clause boundaries only; may return text still over the limit."""
    if len(text) <= limit:
        return text
    text = re.sub(r"\s*\([^)]*\)", "", text)
    while len(text) > limit:
        cut = max(text.rfind(sep, 0, len(text) - 1) for sep in (", ", " - ", ": ", "; ", ". ",
                                                                  " – ", "! "))
        if cut <= 0:
            break
        text = text[:cut].rstrip(" ,;:-–")
    return text


def cut_words(text: str, limit: int) -> str:
    """The last resort: cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[: text.rfind(" ", 0, limit + 1)].rstrip(" ,;:-–") if " " in text[:limit + 1] \
        else text[:limit]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def variant_key(fields: dict[str, str]) -> str:
    """Variants must differ in their lead field (the headline, or the whole text)."""
    return _norm(next(iter(fields.values()), ""))


# ---- checks --------------------------------------------------------------------------------


def check_variant(fields: dict[str, str], channel: str, limits: dict[str, int], facts: Facts,
                  brand: BrandVoice, allowed_hosts: set[str]) -> list[str]:
    problems = []
    for name in FIELDS[channel]:
        value = fields.get(name, "")
        if len(value.split()) < (2 if name == "headline" else 4):
            problems.append(f"{name}: missing or too short")
            continue
        if len(value) > limits[name]:
            problems.append(f"{name}: {len(value)} chars > {limits[name]}")
        problems += [f"{name}: {v}" for v in grounding_violations(value, facts)]
        lowered = value.lower()
        problems += [f"{name}: avoid word {w!r}" for w in brand.avoid_words
                     if re.search(rf"\b{re.escape(w.lower())}\b", lowered)]
        if ECHO.search(value):
            problems.append(f"{name}: repeats the prompt")
        if name != "headline" and not relevant_to(value, facts):
            problems.append(f"{name}: does not mention the product")
        if strip_unsafe_links(value, allowed_hosts)[1]:
            problems.append(f"{name}: link outside the shop")
    return problems


ECHO = re.compile(r"</?data>|\b(?:PRODUCT|CATEGORY|PRICE|FEATURES|AUDIENCE|CHANNEL|OFFER)\s*:|"
                  r"\b(?:e-commerce|as an ai|character|the product is)\b", re.IGNORECASE)


def relevant_to(text: str, facts: Facts) -> bool:
    words = set(re.findall(r"[a-z]{4,}", text.lower()))
    product = facts.products[0]
    return bool(words & set(re.findall(r"[a-z]{4,}", product.title.lower())))


def full_text(fields: dict[str, str], channel: str, brand: BrandVoice) -> dict[str, str]:
    if channel == "sms":
        return {"text": f"{fields['text']} {brand.sms_opt_out}"}
    return fields


# ---- fallback ------------------------------------------------------------------------------


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
                 f"{kind.title()} for every trail", f"Find your {kind}"]
        descs = [f"{name} for {price}.{offer} Order online at {shop}.",
                 f"Get the {bare} for {price}.{offer} Free advice from our team.",
                 f"{name}: made for days outside. {price}.{offer}",
                 f"Browse {kind} at {shop}. The {bare} is {price}.{offer}"]
        return [{"headline": h, "description": descs[i % len(descs)]}
                for i, h in enumerate(heads)]
    if channel == "display":
        return [{"headline": h} for h in
                [name, f"Meet the {bare}", f"{bare}: {price}", f"Ready for outside: {bare}",
                 f"New {kind} at {shop}"]]
    texts = [f"The {name} is here for {price}.{offer} Find it at {shop}.",
             f"Ready for the next trip? The {bare} costs {price}.{offer}",
             f"New at {shop}: {name}, {price}.{offer}",
             f"Treat yourself to the {bare}. {price} at {shop}.{offer}",
             f"Built for the outdoors: {name}. Now {price}.{offer}"]
    return [{"text": t.replace("..", ".")} for t in texts]


# ---- the task ------------------------------------------------------------------------------


class AdCopywriter:
    def __init__(self, engine: Engine, library: PromptLibrary, brand: BrandVoice,
                 allowed_hosts: set[str]):
        self.engine = engine
        self.prompt = library.get("ad_copy")
        self.brand = brand
        self.allowed_hosts = allowed_hosts

    def requests(self, options: CopyOptions, product: dict, campaign: dict | None,
                 count: int, seed: int) -> list[GenerationRequest]:
        limits = limits_for(options.channel, self.prompt.constraints, self.brand)
        out = []
        for index in range(count):
            system, user = self.prompt.render_chat(
                product=product, channel=options.channel, audience=options.audience,
                tone=options.tone, brand=self.brand, campaign=campaign, variant=index,
                fields=FIELDS[options.channel], channel_label=CHANNEL_LABELS[options.channel],
                limits=limits, angle=ANGLES[(seed + index) % len(ANGLES)])
            out.append(GenerationRequest.chat(
                system, user, max_new_tokens=MAX_TOKENS[options.channel],
                temperature=options.temperature, seed=seed + index, stop=["\n\n"]))
        return out

    def write(self, options: CopyOptions, facts: Facts, category: str,
              campaign: dict | None = None) -> list[Variant]:
        product_fact = facts.products[0]
        features = neutralize_untrusted(product_fact.text, self.allowed_hosts)[:300]
        product = {"title": product_fact.title, "category": category,
                   "price_text": price_text(product_fact), "features": features}
        limits = limits_for(options.channel, self.prompt.constraints, self.brand)
        variants: list[Variant | None] = [None] * options.variants
        taken: set[str] = set()
        for attempt, source in enumerate(("model", "regenerated")):
            todo = [i for i, v in enumerate(variants) if v is None]
            if not todo:
                break
            seed = options.seed + attempt * 1000
            replies = self.engine.generate(self.requests(options, product, campaign,
                                                         len(todo), seed))
            for index, reply in zip(todo, replies):
                variant = self._accept(reply.text, options.channel, limits, facts, source, taken)
                if variant is not None:
                    variants[index] = variant
                    taken.add(variant_key(variant.fields))
        candidates = fallback_candidates(facts, options.channel, self.brand, category)
        for index, value in enumerate(variants):
            if value is None:
                variants[index] = self._fallback(candidates, options.channel, limits, facts,
                                                 taken)
                taken.add(variant_key(variants[index].fields))
        return [Variant({k: v for k, v in full_text(v.fields, options.channel,
                                                     self.brand).items()},
                        v.source, v.raw, v.violations_before, v.problems)
                for v in variants if v is not None]

    def _accept(self, reply: str, channel: str, limits: dict[str, int], facts: Facts,
                source: str, taken: set[str]) -> Variant | None:
        fields = parse_fields(reply, FIELDS[channel])
        before = [str(v) for value in fields.values() for v in grounding_violations(value, facts)]
        for name in list(fields):
            value, _ = repair_grounding(fields[name], facts)
            value, _ = strip_unsafe_links(value, self.allowed_hosts)
            value = re.sub(r"\s*reply stop.*$", "", value, flags=re.IGNORECASE)
            fields[name] = shorten(clean(value), limits[name])
        problems = check_variant(fields, channel, limits, facts, self.brand, self.allowed_hosts)
        if problems or variant_key(fields) in taken:
            return None
        return Variant(fields, source, reply, before)

    def _fallback(self, candidates: list[dict[str, str]], channel: str, limits: dict[str, int],
                  facts: Facts, taken: set[str]) -> Variant:
        cut_needed = None
        for candidate in candidates:
            fields = {name: shorten(value, limits[name]) for name, value in candidate.items()}
            if variant_key(fields) in taken:
                continue
            if not check_variant(fields, channel, limits, facts, self.brand, self.allowed_hosts):
                return Variant(fields, "fallback")
            cut_needed = cut_needed or candidate
        candidate = cut_needed or candidates[0]
        fields = {name: cut_words(value, limits[name]) for name, value in candidate.items()}
        return Variant(fields, "cut", problems=check_variant(
            fields, channel, limits, facts, self.brand, self.allowed_hosts))
