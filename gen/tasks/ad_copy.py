"""Ad copy: N distinct variants for a product, a channel and an audience.

The model drafts; code enforces. For each variant slot several drafts are sampled (best-of-N,
`CopyOptions.candidates`); each is cleaned, grounded against the catalog and the campaign
(prices, codes, stock), stripped of attribute claims the product's own text does not support
(gen/checks/claims.py), of praise for what the product's reviews call poor
(gen/checks/aspect_praise.py, when given) and of a sentence the token budget cut, shortened at
clause boundaries, and checked. The best passing drafts are kept (gen/tasks/best_of.py: the model's own perplexity, whether
code had to repair the draft, overlap with the other variants). Slots still empty get one more
round of drafts; what is still missing is a variant built from catalog facts, and only that
last resort may be cut at a word boundary.

`Variant.source` says who wrote what ships: model (as written, bar formatting), repaired (the
model's text with something removed or fixed), fallback (the template), cut (a cut template).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gen.checks.claims import (
    ClaimChecker,
    ClaimVocabulary,
    attribute_kind,
    checker_for,
    looks_truncated,
    remove_unsupported,
    stem,
    whole_sentences,
)
from gen.checks.guardrails import (
    Facts,
    TextCheck,
    grounding_violations,
    neutralize_untrusted,
    repair_grounding,
    sentences,
    strip_unsafe_links,
)
from gen.engines import Engine, GenerationRequest, Result
from gen.engines.base import generate_watched
from gen.prompts import BrandVoice, PromptLibrary
from gen.sources import price_text
from gen.tasks.best_of import REPAIR_COST, Candidate, pick
from gen.tasks.copy_templates import fallback_candidates
from gen.tasks.fields import complete_fields
from gen.tasks.text import ECHO, clean, copies, cut_words, shorten

Channel = Literal["search", "social", "sms", "display"]
CHANNEL_LABELS = {"search": "search ad", "social": "social media post", "sms": "SMS message",
                  "display": "display banner headline"}
FIELDS = {"search": ["headline", "description"], "social": ["text"], "sms": ["text"],
          "display": ["headline"]}
MAX_TOKENS = {"search": 48, "social": 80, "sms": 56, "display": 24}
FIELD_TOKENS = {"description": 40}  # a description continued on its own (gen/tasks/fields.py)
ANGLES = ["Focus on what the product does best.", "Focus on comfort and everyday use.",
          "Focus on the moment it is used.", "Make it short and punchy.",
          "Speak to someone buying a gift.", "Focus on quality and materials.",
          "Use a question to open.", "Focus on value for the price."]


class CopyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=10)
    channel: Channel = "search"
    variants: int = Field(default=3, ge=1, le=10)
    audience: str = Field(default="", max_length=200)
    tone: str | None = Field(default=None, max_length=200)
    campaign_id: str | None = None
    seed: int = 0
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    candidates: int = Field(default=3, ge=1, le=8)  # drafts sampled per variant (best-of-N)


@dataclass
class Variant:
    fields: dict[str, str]
    source: str  # model | repaired | fallback | cut
    raw: str = ""
    violations_before: list[str] = field(default_factory=list)  # in what the model wrote
    problems: list[str] = field(default_factory=list)  # empty when every constraint holds
    logprob: float | None = None  # mean token log-probability of the draft
    claims_before: list[str] = field(default_factory=list)  # attribute claims, as written

    def as_dict(self) -> dict:
        return {"fields": self.fields, "source": self.source, "problems": self.problems,
                "violations_before": self.violations_before,
                "claims_before": self.claims_before, "logprob": self.logprob}


def limits_for(channel: str, constraints: dict, brand: BrandVoice) -> dict[str, int]:
    limits = dict(constraints.get(channel, {}))
    if channel == "sms":  # the opt-out text is appended by code and counts towards 160
        limits["text"] = limits["text"] - len(brand.sms_opt_out) - 1
    return limits


# ---- parsing and cleaning ------------------------------------------------------------------

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


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def variant_key(fields: dict[str, str]) -> str:
    """Variants must differ in their lead field (the headline, or the whole text)."""
    return _norm(next(iter(fields.values()), ""))


# ---- checks --------------------------------------------------------------------------------


def check_variant(fields: dict[str, str], channel: str, limits: dict[str, int], facts: Facts,
                  brand: BrandVoice, allowed_hosts: set[str],
                  claims: ClaimChecker | None = None,
                  checks: Sequence[TextCheck] = ()) -> list[str]:
    problems = []
    for name in FIELDS[channel]:
        value = fields.get(name, "")
        if len(value.split()) < (2 if name == "headline" else 4):
            problems.append(f"{name}: missing or too short")
            continue
        if len(value) > limits[name]:
            problems.append(f"{name}: {len(value)} chars > {limits[name]}")
        problems += [f"{name}: {v}" for v in grounding_violations(value, facts)]
        if claims is not None:
            problems += [f"{name}: {v}" for v in claims.violations(value)]
        for check in checks:
            problems += [f"{name}: {v}" for v in check.violations(value)]
        if looks_truncated(value):
            problems.append(f"{name}: ends mid-sentence")
        lowered = value.lower()
        problems += [f"{name}: avoid word {w!r}" for w in brand.avoid_words
                     if re.search(rf"\b{re.escape(w.lower())}\b", lowered)]
        if ECHO.search(value):
            problems.append(f"{name}: repeats the prompt")
        shouted = [w for w in re.findall(r"\b[A-Z]{4,}\b", value) if w not in facts.source_text()]
        if shouted:  # "COOKIES BOOSTER": a small model's noise, not a product term like "PFAS"
            problems.append(f"{name}: capitals {shouted}")
        if name != "headline" and not relevant_to(value, facts):
            problems.append(f"{name}: does not mention the product")
        if strip_unsafe_links(value, allowed_hosts)[1]:
            problems.append(f"{name}: link outside the shop")
    return problems


def relevant_to(text: str, facts: Facts) -> bool:
    words = set(re.findall(r"[a-z]{4,}", text.lower()))
    product = facts.products[0]
    return bool(words & set(re.findall(r"[a-z]{4,}", product.title.lower())))


def full_text(fields: dict[str, str], channel: str, brand: BrandVoice) -> dict[str, str]:
    if channel == "sms":
        return {"text": f"{fields['text']} {brand.sms_opt_out}"}
    return fields


# ---- the task ------------------------------------------------------------------------------


class AdCopywriter:
    def __init__(self, engine: Engine, library: PromptLibrary, brand: BrandVoice,
                 allowed_hosts: set[str], vocabulary: ClaimVocabulary | None = None):
        self.engine = engine
        self.prompt = library.get("ad_copy")
        self.brand = brand
        self.allowed_hosts = allowed_hosts
        self.vocabulary = vocabulary or ClaimVocabulary.builtin()

    def requests(self, options: CopyOptions, product: dict, campaign: dict | None,
                 count: int, seed: int) -> list[GenerationRequest]:
        limits = limits_for(options.channel, self.prompt.constraints, self.brand)
        fields = FIELDS[options.channel]
        out = []
        for index in range(count):
            system, user = self.prompt.render_chat(
                product=product, channel=options.channel, audience=options.audience,
                tone=options.tone, brand=self.brand, campaign=campaign, variant=index,
                fields=fields, channel_label=CHANNEL_LABELS[options.channel],
                limits=limits, angle=ANGLES[(seed + index) % len(ANGLES)],
                example=self.example(options.channel))
            # the prefilled first label holds a small model to the answer format
            out.append(GenerationRequest.chat(
                system, user, prefill=f"{fields[0].upper()}:",
                max_new_tokens=MAX_TOKENS[options.channel],
                temperature=options.temperature, seed=seed + index, stop=["\n\n"]))
        return out

    def example(self, channel: str) -> dict[str, str]:
        return self.prompt.meta.get("examples", {}).get(channel, {})

    def write(self, options: CopyOptions, facts: Facts, category: str,
              campaign: dict | None = None, attributes: dict | None = None,
              on_piece: Callable[[int, str], None] | None = None,
              checks: Sequence[TextCheck] = ()) -> list[Variant]:
        """`options.variants` checked variants, each the best of `options.candidates` drafts.
        `on_piece(draft, piece)` hears each draft's text as the model writes it (drafts are
        numbered across both rounds). `checks`: more text checks for this product (what
        its reviews call poor): their sentences are removed like unsupported claims."""
        fact = facts.products[0]
        product = {"title": fact.title, "category": category, "price_text": price_text(fact),
                   "description": _lead(neutralize_untrusted(fact.text, self.allowed_hosts)),
                   "details": _details(attributes or {})}
        limits = limits_for(options.channel, self.prompt.constraints, self.brand)
        claims = checker_for(facts, self.vocabulary, [category])
        picked: list[Variant] = []
        drafts_so_far = 0
        for attempt in range(2):  # a second round only for slots no draft could fill
            missing = options.variants - len(picked)
            if missing <= 0:
                break
            requests = self.requests(options, product, campaign, missing * options.candidates,
                                     options.seed + attempt * 1000)
            if on_piece is None:
                written = self.engine.generate(requests)
            else:
                written = generate_watched(
                    self.engine, requests,
                    lambda i, piece, offset=drafts_so_far: on_piece(offset + i, piece))
            drafts_so_far += len(requests)
            # a draft that stopped after its headline gets "DESCRIPTION:" written for it
            results = complete_fields(self.engine, requests, written,
                                      FIELDS[options.channel], FIELD_TOKENS)
            drafts = [self.draft(r, options.channel, limits, facts, claims, checks)
                      for r in results]
            good = [Candidate(d, variant_key(d.fields),
                              REPAIR_COST if d.source == "repaired" else 0.0, d.logprob)
                    for d in drafts if not d.problems]
            picked += [c.value for c in pick(good, missing,
                                              [variant_key(v.fields) for v in picked])]
        candidates = fallback_candidates(facts, options.channel, self.brand, category)
        taken = {variant_key(v.fields) for v in picked}
        while len(picked) < options.variants:
            picked.append(self._fallback(candidates, options.channel, limits, facts, taken,
                                         claims, checks))
            taken.add(variant_key(picked[-1].fields))
        return [Variant(full_text(v.fields, options.channel, self.brand), v.source, v.raw,
                        v.violations_before, v.problems, v.logprob, v.claims_before)
                for v in picked]

    def draft(self, result: Result, channel: str, limits: dict[str, int], facts: Facts,
              claims: ClaimChecker, checks: Sequence[TextCheck] = ()) -> Variant:
        """One sampled reply, repaired where it can be and checked; `problems` empty = usable."""
        reply = result.text
        fields = parse_fields(reply, FIELDS[channel])
        written = dict(fields)
        claims_before = [str(v) for value in fields.values() for v in claims.violations(value)]
        claims_before += [str(v) for value in fields.values() for check in checks
                          for v in check.violations(value)]
        before = [str(v) for value in fields.values() for v in grounding_violations(value, facts)]
        lines = [clean(line) for line in reply.splitlines() if clean(line)]
        for name in list(fields):
            value = fields[name]
            if result.finish_reason == "length" and lines and value.endswith(lines[-1]):
                # the token budget stopped inside this field: its last sentence is unfinished
                value = "" if name == "headline" else whole_sentences(value, cut=True)
            value, _ = repair_grounding(value, facts)
            value, _ = strip_unsafe_links(value, self.allowed_hosts)
            value = re.sub(r"\s*reply stop.*$", "", value, flags=re.IGNORECASE)
            for check in (claims, *checks):
                value = remove_unsupported(value, check).text
            value = whole_sentences(value, cut=False)
            fields[name] = shorten(clean(value), limits[name])
        problems = check_variant(fields, channel, limits, facts, self.brand, self.allowed_hosts,
                                 claims, checks)
        example = self.example(channel)
        if any(copies(value, example.get(name, "")) for name, value in fields.items()):
            problems.append("copies the example answer")
        borrowed = _stems(" ".join(fields.values())) & (
            _stems(example.get("product", "")) - _stems(claims.lowered))
        if borrowed:  # "a 750 ml stainless steel teapot" in an ad for a desk lamp
            problems.append(f"names the example's product: {sorted(borrowed)}")
        edited = any(_norm(fields.get(n, "")) != _norm(written.get(n, "")) for n in fields)
        return Variant(fields, "repaired" if edited else "model", reply,
                       before + claims_before, problems, result.logprob, claims_before)

    def _fallback(self, candidates: list[dict[str, str]], channel: str, limits: dict[str, int],
                  facts: Facts, taken: set[str], claims: ClaimChecker,
                  checks: Sequence[TextCheck] = ()) -> Variant:
        cut_needed = None
        for candidate in candidates:
            fields = {name: shorten(value, limits[name]) for name, value in candidate.items()}
            if variant_key(fields) in taken:
                continue
            if not check_variant(fields, channel, limits, facts, self.brand, self.allowed_hosts,
                                 claims, checks):
                return Variant(fields, "fallback")
            cut_needed = cut_needed or candidate
        candidate = cut_needed or candidates[0]
        fields = {name: cut_words(value, limits[name]) for name, value in candidate.items()}
        return Variant(fields, "cut", problems=check_variant(
            fields, channel, limits, facts, self.brand, self.allowed_hosts, claims, checks))


def _stems(text: str) -> set[str]:
    return {stem(w) for w in re.findall(r"[a-z]{4,}", text.lower())}


def _lead(text: str, limit: int = 260) -> str:
    """Whole sentences of the product text, up to about `limit` characters."""
    out = ""
    for sentence in sentences(text):
        if out and len(out) + len(sentence) > limit:
            break
        out = f"{out} {sentence.strip()}".strip()
    return out if len(out) <= limit else cut_words(out, limit)


def _details(attributes: dict) -> str:
    """The attributes a copywriter may name: materials, colours, features."""
    out = ""
    for key, value in attributes.items():
        if isinstance(value, str) and attribute_kind(key) and len(out) + len(value) < 200:
            out += f"{'; ' if out else ''}{key.replace('_', ' ')}: {value}"
    return out
