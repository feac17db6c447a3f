"""The campaign job: one personalized email per eligible customer, resumable and idempotent.

    plan      choose the audience (consent and frequency cap checked), nothing written
    prepare   save the campaign, add a pending row per customer (existing rows stay as they are);
              with an `offer`, draw each customer's arm (campaigns/offers.py)
    run       repeat: take due pending rows, recommend for all of them in one batched call,
              write their emails in engine-sized batches, commit each batch in one transaction

Rows only leave `pending` through conditional updates (campaigns/rows.py), so a kill -9 at any
moment followed by the same command ends with exactly one email per eligible customer: a batch
that was committed is never generated again, one that was not is generated on the rerun.
The same `process` runs in this process (local) or inside Ray actors (campaigns/ray_runner.py).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from campaigns import rows as store_rows
from campaigns.audience import Plan, ProductAudience, SegmentMembers, choose
from campaigns.control import record_control
from campaigns.offers import assign_arms, issue_codes, offer_shares, shop_currency
from campaigns.send_time import WEEK, SendTimes, send_at
from campaigns.spec import CampaignSpec
from gen.engines import Engine, GenerationRequest, Result
from gen.service import GenService
from gen.sources import Recommendation, purchased_titles
from gen.tasks.email import EmailJob, EmailWriter
from shop.errors import InvalidInput, NotFound

MAX_WAIT_S = 60.0  # the longest a run sleeps for a row's backoff before trying it again


class CountingEngine(Engine):
    """Passes batches through and counts tokens (the summary reports them)."""

    def __init__(self, engine: Engine):
        self.inner = engine
        self.name, self.model_name = engine.name, engine.model_name
        self.max_batch = engine.max_batch
        self.tokens = 0
        self._lock = threading.Lock()

    def generate(self, requests: list[GenerationRequest]) -> list[Result]:
        results = self.inner.generate(requests)
        with self._lock:
            self.tokens += sum(r.prompt_tokens + r.completion_tokens for r in results)
        return results

    def take_tokens(self) -> int:
        with self._lock:
            tokens, self.tokens = self.tokens, 0
        return tokens


@dataclass
class RunReport:
    """What one `run` did (the summary file adds what the store holds)."""

    counts: Counter = field(default_factory=Counter)  # generated / skipped / retry / failed
    seconds: float = 0.0
    plan: Plan | None = None
    new_rows: int = 0

    def emails_per_minute(self) -> float:
        return 60.0 * self.counts["generated"] / self.seconds if self.seconds else 0.0


class CampaignJob:
    def __init__(self, spec: CampaignSpec, generation: GenService,
                 engine: Engine | Callable[[], Engine] | None = None,
                 batch_size: int | None = None, segment_members: SegmentMembers | None = None,
                 product_audience: ProductAudience | None = None):
        """`engine`: an engine, or a function that builds one when the first email is
        written (a dry run never loads a model); default: the service's own."""
        self.spec = spec
        self.generation = generation
        self.store = generation.store
        self._engine = engine
        self.prompt = _email_prompt(generation, spec.template)
        self.template_version = self.prompt.ref
        self._batch_size = batch_size
        self.segment_members = segment_members
        self.product_audience = product_audience
        self.send_within = WEEK  # each email's send_at: its customer's best hour in this time

    @cached_property
    def engine(self) -> CountingEngine:
        engine = self._engine
        if engine is None:
            engine = self.generation.engine
        elif not isinstance(engine, Engine):
            engine = engine()
        return CountingEngine(engine)

    @cached_property
    def send_times(self) -> SendTimes:
        return SendTimes(self.store)

    @cached_property
    def send_from(self) -> datetime:
        """Emails are timed from when this job first wrote one."""
        return store_rows.utcnow()

    @cached_property
    def writer(self) -> EmailWriter:
        return self.generation.email_writer(self.spec.candidates, self.prompt.name, self.engine)

    @property
    def batch_size(self) -> int:
        """Emails per batch: an engine runs `max_batch` requests at once, and each email is
        `candidates` requests."""
        return self._batch_size or max(1, self.engine.max_batch // self.spec.candidates)

    # ---- audience --------------------------------------------------------------------------

    def plan(self, limit: int | None = None) -> Plan:
        return choose(self.store, self.spec.audience, limit, self.segment_members,
                      campaign_id=self.spec.name, product_audience=self.product_audience)

    def prepare(self, plan: Plan) -> int:
        self._check_products()
        store_rows.save_campaign(self.store, self.spec, self.template_version)
        record_control(self.store, self.spec.name, plan.control_ids)  # held out, for measuring
        if self.spec.offer is not None:  # who gets the offer, logged before any email
            assign_arms(self.store, self.spec.name, plan.eligible, self.offer_share,
                        self.spec.seed)
        return store_rows.add_pending(self.store, self.spec.name, plan.eligible,
                                      self.template_version)

    def _check_products(self) -> None:
        ids = self.spec.products.product_ids or []
        found = {p.product_id for p in self._fixed(ids)} if ids else set()
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"products.product_ids: unknown product(s) {', '.join(missing)}")

    # ---- running ---------------------------------------------------------------------------

    def run(self, limit: int | None = None, progress: Callable[[int], None] | None = None,
            runner: Callable[[list[store_rows.Due]], Counter] | None = None) -> RunReport:
        """Work until every row of the plan is generated, skipped or failed. `progress(n)`
        hears about each finished row; `runner` processes the due rows (default: here, in
        engine-sized batches; campaigns/ray_runner.py passes one that uses Ray)."""
        started = time.perf_counter()
        report = RunReport(plan=self.plan(limit))
        report.new_rows = self.prepare(report.plan)
        wanted = set(report.plan.eligible)
        runner = runner or (lambda due: self.process_all(due, progress))
        while True:
            due, next_at = store_rows.due_rows(self.store, self.spec.name,
                                               self.template_version, wanted)
            if due:
                report.counts.update(runner(due))
                continue
            if next_at is None:
                break
            wait = (next_at - store_rows.utcnow()).total_seconds()
            time.sleep(min(max(wait, 0.05), MAX_WAIT_S))
        report.seconds = time.perf_counter() - started
        return report

    def process_all(self, due: list[store_rows.Due],
                    progress: Callable[[int], None] | None = None) -> Counter:
        """First attempts in batches, with recommendations for all of them in one call;
        retried rows one at a time, so a row that breaks its batch cannot hold others back."""
        counts: Counter = Counter()
        fresh = [row for row in due if row.attempts == 0]
        recommendations = self.recommend([row.customer_id for row in fresh])
        batches = [fresh[i:i + self.batch_size] for i in range(0, len(fresh), self.batch_size)]
        batches += [[row] for row in due if row.attempts > 0]
        for batch in batches:
            done = self.process(batch, recommendations)
            counts.update(done)
            if progress:
                progress(sum(done[k] for k in ("generated", "skipped", "failed", "already")))
        return counts

    def recommend(self, customer_ids: list[str]) -> dict[str, list[Recommendation]]:
        ids = self.spec.products.product_ids
        if ids:
            fixed = self._fixed(ids)
            return {customer_id: fixed for customer_id in customer_ids}
        return self.generation.recommend_many(customer_ids, self.spec.products.count)

    def _fixed(self, ids: list[str]) -> list[Recommendation]:
        from gen.sources import load_products

        return [Recommendation(p.id, 1.0, ["Picked for this campaign"], "campaign")
                for p in load_products(self.store, ids)]

    def process(self, batch: list[store_rows.Due],
                recommendations: dict[str, list[Recommendation]] | None = None) -> Counter:
        """Generate and commit one batch. Errors are counted against its rows (retried with
        backoff, then failed), never raised: one bad batch does not stop the job."""
        counts: Counter = Counter()
        skipped = store_rows.skip_ineligible(self.store, batch)
        counts["skipped"] += len(skipped)
        batch = [row for row in batch if row.id not in skipped]
        if not batch:
            return counts
        started = time.perf_counter()
        self.engine.take_tokens()
        try:
            recommendations = recommendations or {}
            missing = [row.customer_id for row in batch if row.customer_id not in recommendations]
            if missing:
                recommendations = {**recommendations, **self.recommend(missing)}
            customers = self.generation.customers([row.customer_id for row in batch])
            jobs = self.generation.email_jobs(customers, recommendations, self.spec.name,
                                              self.spec.products.count)
            bought = purchased_titles(self.store, [c.id for c in customers])
            for job in jobs:  # what the email may say they bought
                job.purchased = bought.get(job.customer.id, [])
            self._give_offers(jobs)
            drafts = self.writer.write_many(jobs, self.spec.seed)
        except Exception as exc:  # noqa: BLE001 - recorded on the rows; Ctrl-C still stops
            counts.update(store_rows.record_failure(self.store, batch, _describe(exc)))
            return counts
        seconds = (time.perf_counter() - started) / len(batch)
        tokens = self.engine.take_tokens() // len(batch)
        times = self.send_times.best([row.customer_id for row in batch])
        written = []
        for row, draft in zip(batch, drafts):
            output = draft.as_dict() | {"prompt": self.template_version,
                                        "model": self.engine.model_name}
            output["send_at"] = send_at(times[row.customer_id], self.send_from,
                                        self.send_within).isoformat(timespec="seconds")
            written.append(store_rows.Written(row.id, output, draft.source, tokens, seconds))
        counts.update(store_rows.commit_written(self.store, written))
        return counts


    def _give_offers(self, jobs: list[EmailJob]) -> None:
        """A campaign with an offer: a code for each recipient in its offer arm (issued now,
        or found from an earlier attempt), the rest an email without any offer."""
        offer = self.spec.offer
        if offer is None:
            return
        ids = [job.customer.id for job in jobs]
        arm = assign_arms(self.store, self.spec.name, ids, self.offer_share, self.spec.seed)
        chosen = [i for i in ids if arm.get(i) == "offer"]
        codes = issue_codes(self.store, self.spec.name, chosen, offer, self.currency) \
            if chosen else {}
        for job in jobs:
            issued = codes.get(job.customer.id)
            job.give(issued.personal() if issued else None)

    @cached_property
    def offer_share(self):
        """Each recipient's chance of the offer arm (the offer's share, or its plan's)."""
        return offer_shares(self.spec.offer)

    @cached_property
    def currency(self) -> str:
        """An amount offer's currency: the catalog's."""
        return shop_currency(self.store)


def _email_prompt(generation: GenService, template: str) -> Any:
    """`template: email` names the email prompt family; its model-facing part is
    `email_intro` (the layout and text parts are rendered around it)."""
    library = generation.library
    for name in (f"{template}_intro", template):
        if name in library.names():
            prompt = library.get(name)
            if _writes_email(prompt):
                return prompt
    raise InvalidInput(f"template: no email prompt {template!r} in {library.folder}; "
                       f"email prompts: {', '.join(_email_prompts(library))}")


def _writes_email(prompt: Any) -> bool:
    """An email prompt the model answers (system and user blocks), not a layout."""
    return prompt.task == "email" and "system" in prompt.template.blocks


def _email_prompts(library) -> list[str]:
    return [n for n in library.names() if _writes_email(library.get(n))]


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
