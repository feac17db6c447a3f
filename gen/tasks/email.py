"""Personalized marketing emails: the model writes a subject and an intro, code does the rest.

The prompt gets the customer's first name and the recommended products (title, category,
material), nothing else about the person. Each email gets `candidates` sampled drafts (all in
one batched `generate`); each draft's subject and intro are guarded (prices and codes
grounded, attribute claims the products do not support removed, sentences promising an offer
the campaign does not carry or a purchase the customer's events do not show removed, cut
sentences dropped), a part that still fails becomes the template, and the email keeps its best
draft (fewest template parts, then fewest repairs, then the model's own perplexity). Product
blocks (with the recommender's reasons), the footer with the postal address and the
unsubscribe link, the text part, the inlined-CSS HTML part and the `List-Unsubscribe` headers
all come from templates and catalog facts.

Everything fixed is in the customer's language (gen/tasks/email_words.py); the model writes
only for customers whose language is in `settings.llm_languages`, and the others get the
localized template subject and intro without a model call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formataddr
from urllib.parse import urlparse

from gen.checks.claims import (
    ClaimChecker,
    ClaimVocabulary,
    checker_for,
    looks_truncated,
    remove_unsupported,
    stem,
)
from gen.checks.guardrails import (
    Facts,
    grounding_violations,
    repair_grounding,
    sentences,
    strip_unsafe_links,
)
from gen.checks.promises import PromiseChecker
from gen.engines import Engine, GenerationRequest, Result
from gen.prompts import BrandVoice, PromptLibrary
from gen.sources import Recommendation
from gen.tasks.best_of import Candidate, pick
from gen.tasks.copy_templates import short_name
from gen.tasks.email_offer import PersonalOffer, no_offer
from gen.tasks.email_words import EmailWords, purchased_titles
from gen.tasks.fields import complete_fields
from gen.tasks.text import ECHO, clean, copies, cut_words, shorten
from shop.schema import Customer, Product
from shop.settings import Settings
from shop.unsubscribe import unsubscribe_url as signed_unsubscribe_url

HEADERS_POLICY = default_policy.clone(max_line_length=998)
MIN_PRODUCTS, MAX_PRODUCTS = 2, 4
# the shop speaks as "we"; a small model drifting into "I'm going to..." is off-voice
FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'll|I'd|[Mm]y|[Mm]e)\b")
CANDIDATES = 3  # drafts sampled per email (best-of-N); bench/bench_gen.py measures the cost
FALLBACK_COST = 10.0  # a part that falls back to the template loses to any model-written one
INTRO_TOKENS = 48  # for an intro written on its own after the subject (gen/tasks/fields.py)


@dataclass
class EmailJob:
    """What one email needs; built from the store before any generation runs."""

    customer: Customer
    products: list[Product]
    recommendations: list[Recommendation]
    facts: Facts
    campaign: dict | None = None
    purchased: list[str] = field(default_factory=list)  # titles their events show them buying
    offer: PersonalOffer | None = None  # their own code (give), in place of the campaign's

    def give(self, offer: PersonalOffer | None) -> None:
        """This recipient's personal offer, the only one the email may make and the one it
        prints; None: a recipient the offer does not reach, whose email makes none."""
        self.offer = offer
        self.campaign = offer.terms() if offer else None
        self.facts = offer.ground(self.facts) if offer else no_offer(self.facts)


@dataclass
class EmailDraft:
    customer_id: str
    to: str
    subject: str
    preheader: str
    intro: str
    text: str
    html: str
    products: list[dict]
    recommendation_source: str
    unsubscribe_url: str
    source: str  # model | repaired (a part fixed, or from the template) | fallback (both)
    violations_before: list[str] = field(default_factory=list)  # grounding + claims, as written
    problems: list[str] = field(default_factory=list)
    eligible: bool = True  # False: no marketing consent, or unsubscribed (preview only)
    parts: dict[str, str] = field(default_factory=dict)  # subject/intro: model|repaired|fallback
    claims_before: list[str] = field(default_factory=list)  # attribute claims, as written
    logprob: float | None = None  # mean token log-probability of the kept draft
    language: str = "en"  # of the fixed parts (and of the model's, where it wrote)
    promises_before: list[str] = field(default_factory=list)  # offer/purchase claims, as written
    offer: dict | None = None  # the personal offer it prints (PersonalOffer.as_dict)

    def as_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items()}

    def to_message(self, settings: Settings) -> EmailMessage:
        # Lines up to RFC 5322's 998 characters: at the default 78 a long List-Unsubscribe URL
        # (no spaces to fold at) is RFC 2047-encoded, and mail clients no longer see a URL.
        message = EmailMessage(policy=HEADERS_POLICY)
        host = urlparse(settings.shop_url).hostname or "localhost"
        message["From"] = formataddr((settings.shop_name, f"news@{host}"))
        message["To"] = self.to
        message["Subject"] = self.subject
        message["List-Unsubscribe"] = f"<{self.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


def unsubscribe_url(settings: Settings, customer_id: str) -> str:
    """The signed one-click link this server answers (shop/unsubscribe.py)."""
    return signed_unsubscribe_url(settings, customer_id)


@dataclass
class Written:
    """The subject and intro of one draft after the guards, and who wrote each."""

    subject: str
    intro: str
    parts: dict[str, str]  # subject/intro -> model | repaired | fallback
    before: list[str]
    claims_before: list[str]
    logprob: float | None = None
    promises_before: list[str] = field(default_factory=list)

    def penalty(self) -> float:
        return sum(FALLBACK_COST if part == "fallback" else 1.0 if part == "repaired" else 0.0
                   for part in self.parts.values())


@dataclass
class Checks:
    """What one email's model text is checked against."""

    claims: ClaimChecker
    promises: PromiseChecker
    words: EmailWords


class EmailWriter:
    def __init__(self, engine: Engine, library: PromptLibrary, brand: BrandVoice,
                 settings: Settings, vocabulary: ClaimVocabulary | None = None,
                 candidates: int = CANDIDATES, prompt: str = "email_intro"):
        self.engine = engine
        self.library = library
        self.prompt = library.get(prompt)
        # one worked answer in the prompt (see email_intro.toml); a copy of it is rejected
        self.example = dict(self.prompt.meta.get("example", {}))
        self.brand = brand
        self.settings = settings
        self.allowed_hosts = {urlparse(settings.shop_url).hostname or ""}
        self.vocabulary = vocabulary or ClaimVocabulary.builtin()
        self.candidates = max(1, candidates)

    def request(self, job: EmailJob, seed: int = 0) -> GenerationRequest:
        products = [{"name": short_name(p.title), "category": p.category.replace("-", " "),
                     "material": str((p.attributes or {}).get("material") or "")}
                    for p in job.products]
        system, user = self.prompt.render_chat(
            first_name=job.customer.first_name, brand=self.brand, campaign=job.campaign,
            example=self.example, products=products, language=self.words(job).language_name,
            offer=job.offer.prompt_text() if job.offer else "")
        return GenerationRequest.chat(system, user, prefill="SUBJECT:", max_new_tokens=56,
                                      temperature=0.7, seed=seed)

    def write_many(self, jobs: list[EmailJob], seed: int = 0) -> list[EmailDraft]:
        """One `generate` call for the whole list (the engine batches it), `candidates`
        drafts per email; each email keeps its best."""
        n = self.candidates
        # customers in a language the model does not write well get the localized template
        modelled = [job for job in jobs if self.model_writes(job)]
        requests = [self.request(job, seed + k) for job in modelled for k in range(n)]
        # a draft that wandered off after its subject gets "INTRO:" written for it
        results = complete_fields(self.engine, requests, self.engine.generate(requests),
                                  ["subject", "intro"], {"intro": INTRO_TOKENS}) \
            if requests else []
        replies = {id(job): results[i * n:(i + 1) * n] for i, job in enumerate(modelled)}
        drafts = []
        for job in jobs:
            checks = self.checks(job)
            if id(job) not in replies:
                drafts.append(self.render(job, self.template(job, checks), checks))
                continue
            written = [self.written(job, result, checks) for result in replies[id(job)]]
            best = pick([Candidate(w, f"{w.subject} {w.intro}", w.penalty(), w.logprob)
                         for w in written], 1)
            drafts.append(self.render(job, best[0].value if best else written[0], checks))
        return drafts

    def words(self, job: EmailJob) -> EmailWords:
        return EmailWords.for_customer(job.customer, self.settings)

    def model_writes(self, job: EmailJob) -> bool:
        return self.words(job).language in self.settings.llm_languages

    def checker(self, job: EmailJob) -> ClaimChecker:
        return checker_for(job.facts, self.vocabulary, [p.category for p in job.products])

    def checks(self, job: EmailJob) -> Checks:
        words = self.words(job)
        bought = list(job.purchased) + purchased_titles(job.recommendations)
        return Checks(self.checker(job),
                      PromiseChecker.for_campaign(job.campaign, words.language, bought), words)

    def template(self, job: EmailJob, checks: Checks) -> Written:
        """The localized template subject and intro: no model call."""
        subject, _ = self._fallback_subject(job, checks.words)
        intro, _ = self._fallback_intro(job, checks.words)
        return Written(subject, intro, {"subject": "fallback", "intro": "fallback"}, [], [])

    # ---- enforcing the constraints ---------------------------------------------------------

    def _subject(self, raw: str, job: EmailJob, checks: Checks) -> tuple[str, str]:
        limit = self.prompt.constraints.get("subject", 60)
        written = clean(raw)
        subject, _ = repair_grounding(written, job.facts)
        subject, _ = strip_unsafe_links(subject, self.allowed_hosts)
        subject = shorten(remove_unsupported(subject, checks.claims).text, limit)
        garbled = re.search(r"[:\"<>]|\b[A-Z]{4,}\b", subject) or ECHO.search(subject) or \
            copies(subject, self.example.get("subject", "")) or self._borrows(subject, job)
        # about this email's products (a small model likes to reuse the example's products)
        if not garbled and 3 <= len(subject.split()) and len(subject) <= limit and not \
                grounding_violations(subject, job.facts) and not self._avoid(subject) \
                and self._mentions_products(subject, job) and not looks_truncated(subject) \
                and not checks.promises.violations(subject):
            return subject, "model" if _same(subject, written) else "repaired"
        return self._fallback_subject(job, checks.words)

    def _fallback_subject(self, job: EmailJob, words: EmailWords) -> tuple[str, str]:
        limit = self.prompt.constraints.get("subject", 60)
        fallback = words.subject(job.customer.first_name)
        return (fallback if len(fallback) <= limit else cut_words(fallback, limit)), "fallback"

    def _intro(self, raw: str, job: EmailJob, checks: Checks) -> tuple[str, str]:
        max_words = self.prompt.constraints.get("intro_words", 70)
        # the model knows only the first name: any other greeting target is invented
        written = re.sub(r"^(?:hi|hello|dear|hey)\b[^,.!]*[,.!]\s*", "", clean(raw),
                         flags=re.IGNORECASE)
        intro, _ = repair_grounding(written, job.facts)
        intro, _ = strip_unsafe_links(intro, self.allowed_hosts)
        # no offer the campaign lacks, no purchase the customer's events do not show
        intro, _ = checks.promises.remove(intro)
        # whole sentences only (a reply cut by the token limit ends mid-sentence), at most 3
        whole = [part.strip() for part in sentences(intro) if part.rstrip()[-1:] in ".!?"]
        intro = remove_unsupported(" ".join(whole[:3]), checks.claims).text
        words = intro.split()
        if 6 <= len(words) <= max_words and not self._avoid(intro) and \
                not grounding_violations(intro, job.facts) and not FIRST_PERSON.search(intro) \
                and not ECHO.search(intro) and self._mentions_products(intro, job) \
                and not copies(intro, self.example.get("intro", "")) \
                and not self._borrows(intro, job):
            return intro, "model" if _same(intro, written) else "repaired"
        return self._fallback_intro(job, checks.words)

    def _fallback_intro(self, job: EmailJob, words: EmailWords) -> tuple[str, str]:
        kinds = sorted({p.category.replace("-", " ") for p in job.products})
        return words.intro(kinds[:2]), "fallback"

    @staticmethod
    def _mentions_products(text: str, job: EmailJob) -> bool:
        """Names one of the products: a word of a title, category or material."""
        return bool(_words(text) & _words(" ".join(_about(p) for p in job.products)))

    def _borrows(self, text: str, job: EmailJob) -> bool:
        """Names the worked example's products (its "desk lamp") where this email has none."""
        example = _words(" ".join(self.example.get("products", [])))
        own = _words(" ".join(_about(p) for p in job.products))
        return bool(_words(text) & (example - own))

    def _avoid(self, text: str) -> bool:
        return any(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE)
                   for w in self.brand.avoid_words)

    def written(self, job: EmailJob, reply: Result | str,
                checks: Checks | None = None) -> Written:
        """One reply's subject and intro, guarded; a part that fails becomes the template."""
        result = reply if isinstance(reply, Result) else Result(reply)
        checks = checks or self.checks(job)
        text = result.text
        subject_raw = _field(text, "subject")
        intro_raw = _field(text, "intro") or text.split("\n", 1)[-1]
        raw = f"{subject_raw}\n{intro_raw}"
        claims_before = [str(v) for v in checks.claims.violations(raw)]
        promises_before = [str(v) for v in checks.promises.violations(raw)]
        before = [str(v) for v in grounding_violations(raw, job.facts)] + claims_before + \
            promises_before
        last = text.strip().splitlines()[-1] if text.strip() else ""
        if result.finish_reason == "length" and _field(last, "subject"):
            subject_raw = ""  # the token budget stopped inside the subject line
        subject, subject_part = self._subject(subject_raw, job, checks)
        intro, intro_part = self._intro(intro_raw, job, checks)
        return Written(subject, intro, {"subject": subject_part, "intro": intro_part},
                       before, claims_before, result.logprob, promises_before)

    def finish(self, job: EmailJob, reply: Result | str) -> EmailDraft:
        """One reply made into a draft (no best-of-N)."""
        checks = self.checks(job)
        written = self.written(job, reply, checks) if self.model_writes(job) else \
            self.template(job, checks)
        return self.render(job, written, checks)

    def render(self, job: EmailJob, written: Written, checks: Checks) -> EmailDraft:
        subject, intro, parts, words = written.subject, written.intro, written.parts, checks.words
        kinds = set(parts.values())
        source = "model" if kinds == {"model"} else "fallback" if kinds == {"fallback"} \
            else "repaired"
        by_id = {r.product_id: r for r in job.recommendations}
        blocks = [{"id": p.id, "title": p.title, "price_text": words.price(p), "url": p.url,
                   "reason": words.reason(by_id.get(p.id))} for p in job.products]
        rec_source = job.recommendations[0].source if job.recommendations else "none"
        note = words.popular_note() if rec_source.startswith("fallback") else ""
        preheader = cut_words(words.preheader(blocks[0]["title"]), 90) if blocks \
            else self.settings.shop_name
        unsubscribe = unsubscribe_url(self.settings, job.customer.id)
        values = {"subject": subject, "preheader": preheader, "intro": intro,
                  "first_name": job.customer.first_name, "products": blocks,
                  "unsubscribe_url": unsubscribe, "fallback_note": note,
                  "postal_address": self.settings.shop_postal_address,
                  "shop_name": self.settings.shop_name, "shop_url": self.settings.shop_url,
                  "disclaimers": words.disclaimers(self.brand.required_disclaimers),
                  "lang": words.language, "greeting": words.greeting(job.customer.first_name),
                  "offer": words.personal_offer(job.offer) if job.offer else
                  words.offer(job.campaign), "unsubscribe_label": words.unsubscribe(),
                  "subscribed": words.subscribed_text(),
                  "subscribed_html": words.subscribed_html(self.settings.shop_url)}
        html = inline_css(self.library.get("email_layout").render(**values))
        text = self.library.get("email_text").render(**values)
        problems = []
        if len(subject) > 60:
            problems.append("subject over 60 characters")
        if not MIN_PRODUCTS <= len(blocks) <= MAX_PRODUCTS:
            problems.append(f"{len(blocks)} products; want {MIN_PRODUCTS}-{MAX_PRODUCTS}")
        shipped = f"{subject}. {intro}"
        problems += [str(v) for v in grounding_violations(shipped, job.facts)]
        problems += [str(v) for v in checks.claims.violations(shipped)]
        problems += [str(v) for v in checks.promises.violations(shipped)]
        customer = job.customer
        eligible = bool(customer.marketing_consent) and customer.unsubscribed_at is None
        return EmailDraft(customer.id, customer.email, subject, preheader, intro, text, html,
                          blocks, rec_source, unsubscribe, source, written.before, problems,
                          eligible, parts, written.claims_before, written.logprob,
                          words.language, written.promises_before,
                          job.offer.as_dict() if job.offer else None)


def _about(product: Product) -> str:
    return f"{product.title} {product.category} {(product.attributes or {}).get('material', '')}"


def _words(text: str) -> set[str]:
    """Stems of the words of four letters and up ("lamps" ~ "lamp")."""
    return {stem(w) for w in re.findall(r"[a-z]{4,}", text.lower())}


def _same(final: str, written: str) -> bool:
    """Nothing but formatting changed between what the model wrote and what ships."""
    return re.findall(r"[a-z0-9]+", final.lower()) == re.findall(r"[a-z0-9]+", written.lower())


def _field(reply: str, name: str) -> str:
    match = re.search(rf"^\W*{name}\W*:\s*(.+)$", reply, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip() if match else ""


def inline_css(html: str) -> str:
    import css_inline

    return css_inline.inline(html)
