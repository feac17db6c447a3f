"""Send what the trigger rules found (campaigns/triggers.py), through the campaign job.

One run:
  1. note stock changes (the "back in stock" memory);
  2. per rule, find its firings and record each once in `trigger_firings`, by (rule,
     customer, firing time), as `enqueued`, `no_consent` (no marketing consent or
     unsubscribed), `capped` (the customer already has `marketing_cap_emails` marketing
     emails in the last `marketing_cap_days` days: campaign rows written or waiting, and
     firings enqueued but not yet written, across every campaign and rule) or `control`
     (in the global control group, campaigns/control.py: never emailed);
  3. run the campaign job for every trigger campaign with emails still to write. A run's
     enqueued firings of one rule form one campaign, `t-RULE-YYYYMMDDHHMMSS`, whose audience
     is those customers; its rows, files and resumability are the campaign job's own, and
     each email shows what its firing was about first (the cart's items, the restocked
     product), then the customer's recommendations.

A run killed anywhere is finished by the next: recorded firings are never recorded again, and
step 3 picks up any trigger campaign with work left. Consent is checked again when each email
is stored (campaigns/rows.py), so a customer who unsubscribes meanwhile gets nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from campaigns import rows as store_rows
from campaigns.control import control_members
from campaigns.job import CampaignJob
from campaigns.output import write_outputs
from campaigns.spec import CampaignSpec
from campaigns.triggers import Firing, TriggerFile, TriggerRule, find_firings, utc, watch_stock
from gen.sources import Recommendation
from shop.schema import Customer, Product, TriggerFiring, utcnow
from shop.store import Store
from shop.upsert import upsert

JobFactory = Callable[[CampaignSpec], CampaignJob]  # the edge builds jobs with its services
CAMPAIGN_PREFIX = "t-"
SEND_WITHIN = timedelta(days=1)
FEATURED_REASON = {"cart_abandoned": "Still in your basket", "back_in_stock": "Back in stock",
                   "cross_sell": "Goes with your last order", "win_back": "Picked for you"}


def campaign_name(rule: TriggerRule, now: datetime) -> str:
    return f"{CAMPAIGN_PREFIX}{rule.name}-{now:%Y%m%d%H%M%S}"


def run_triggers(store: Store, rules: TriggerFile, job_factory: JobFactory,
                 now: datetime | None = None, dry_run: bool = False) -> dict:
    """Steps 1 to 3 above; returns counts per rule and the campaigns run. `dry_run` finds
    and classifies firings and writes nothing."""
    now = now or utcnow()
    report = {"now": now.isoformat(), "rules": {}, "campaigns": {}}
    if not dry_run:
        report["stock"] = watch_stock(store, now)
    sent_so_far = Counter()  # this run's enqueued emails count against the cap too
    for rule in rules.rules:
        firings = find_firings(store, rule, now)
        states = classify(store, rule, firings, now, sent_so_far)
        counts = Counter(state for state in states.values())
        report["rules"][rule.name] = dict(counts)
        if not dry_run:
            record(store, rule, states, now)
    if not dry_run:
        by_name = {rule.name: rule for rule in rules.rules}
        for campaign_id, rule_name in campaigns_with_work(store):
            rule = by_name.get(rule_name)
            if rule is None:  # its rule left the file: its firings stay recorded, unsent
                continue
            report["campaigns"][campaign_id] = send(store, rule, campaign_id, job_factory)
    return report


def send(store: Store, rule: TriggerRule, campaign_id: str, job_factory: JobFactory) -> dict:
    """Run one trigger campaign's job, each email showing what its firing was about first,
    then rewrite the campaign's files from the store (also after an error). Returns the
    counts by row state."""
    spec, featured = campaign_spec(store, rule, campaign_id)
    job = job_factory(spec)
    job.send_within = SEND_WITHIN  # a trigger's email goes out within a day, at their best hour
    started = time.perf_counter()
    counts: Counter = Counter()
    try:
        counts = job.run(runner=featured_runner(job, featured, FEATURED_REASON[rule.kind])
                         ).counts
    finally:
        summary = write_outputs(store, store.settings, campaign_id, job.template_version,
                                store.settings.campaigns_dir / campaign_id,
                                {"engine": "local", "counts": dict(counts),
                                 "seconds": round(time.perf_counter() - started, 2)})
    return summary["states"]


def featured_runner(job: CampaignJob, featured: dict[str, list[str]], reason: str
                    ) -> Callable[[list[store_rows.Due]], Counter]:
    """Processes due rows like the job's own runner, with each customer's trigger products
    (those still in stock) ahead of their recommendations."""
    def run(due: list[store_rows.Due]) -> Counter:
        recommended = job.recommend([row.customer_id for row in due])
        wanted = sorted({p for row in due for p in featured.get(row.customer_id, [])})
        with job.store.session() as session:
            in_stock = set(session.scalars(select(Product.id).where(
                Product.id.in_(wanted), Product.stock > 0, Product.archived_at.is_(None))))
        count, merged = job.spec.products.count, {}
        for row in due:
            first = [Recommendation(p, 1.0, [reason], "trigger")
                     for p in featured.get(row.customer_id, []) if p in in_stock][:count]
            rest = recommended.get(row.customer_id) or []
            if first and len(rest) < count:  # too few for the email: popular picks fill in
                rest = rest + job.generation.fallback_recommender.recommend(row.customer_id,
                                                                            k=count)
            shown = {r.product_id for r in first}
            rest = [r for r in rest if r.product_id not in shown]
            merged[row.customer_id] = (first + rest)[:count]
        fresh = [row for row in due if row.attempts == 0]
        batches = [fresh[i:i + job.batch_size] for i in range(0, len(fresh), job.batch_size)]
        batches += [[row] for row in due if row.attempts > 0]  # retried alone, as the job does
        counts: Counter = Counter()
        for batch in batches:
            counts.update(job.process(batch, merged))
        return counts

    return run


def classify(store: Store, rule: TriggerRule, firings: list[Firing], now: datetime,
             sent_so_far: Counter) -> dict[Firing, str]:
    """New firings -> enqueued | no_consent | capped | control (already recorded ones are
    left out). `sent_so_far` (customer -> emails enqueued earlier in this run) is updated."""
    if not firings:
        return {}
    settings = store.settings
    customers = sorted({f.customer_id for f in firings})
    with store.session() as session:
        recorded = {(c, utc(t)) for c, t in session.execute(
            select(TriggerFiring.customer_id, TriggerFiring.fired_at).where(
                TriggerFiring.rule == rule.name, TriggerFiring.customer_id.in_(customers)))}
        may_email = set(session.scalars(select(Customer.id).where(
            Customer.id.in_(customers), Customer.marketing_consent.is_(True),
            Customer.unsubscribed_at.is_(None))))
        sent = store_rows.marketing_counts(
            session, customers, now - timedelta(days=settings.marketing_cap_days))
    held_out = control_members(customers, settings)
    states = {}
    for firing in firings:
        if (firing.customer_id, utc(firing.fired_at)) in recorded:
            continue
        customer = firing.customer_id
        if customer not in may_email:
            states[firing] = "no_consent"
        elif customer in held_out:
            states[firing] = "control"
        elif sent.get(customer, 0) + sent_so_far[customer] >= settings.marketing_cap_emails:
            states[firing] = "capped"
        else:
            states[firing] = "enqueued"
            sent_so_far[customer] += 1
    return states


def record(store: Store, rule: TriggerRule, states: dict[Firing, str], now: datetime) -> None:
    campaign_id = campaign_name(rule, now)
    with store.session() as session:
        upsert(session, TriggerFiring, [
            {"rule": rule.name, "customer_id": f.customer_id, "fired_at": f.fired_at,
             "state": state, "campaign_id": campaign_id if state == "enqueued" else None,
             "product_ids": list(f.products), "created_at": now}
            for f, state in states.items()],
            ["rule", "customer_id", "fired_at"], update=False)


def campaigns_with_work(store: Store) -> list[tuple[str, str]]:
    """(campaign, rule) of trigger campaigns with an enqueued customer who may still get
    marketing and whose email is not written, skipped or failed yet."""
    with store.session() as session:
        return list(session.execute(
            select(TriggerFiring.campaign_id, TriggerFiring.rule).distinct()
            .where(TriggerFiring.state == "enqueued",
                   store_rows.eligible(TriggerFiring.customer_id),
                   ~store_rows.firing_has_row("generated", "skipped", "failed"))
            .order_by(TriggerFiring.campaign_id)).all())


def campaign_spec(store: Store, rule: TriggerRule, campaign_id: str
                  ) -> tuple[CampaignSpec, dict[str, list[str]]]:
    """The campaign file a trigger campaign would have (the same on every rerun, so the job
    resumes it rather than refusing a changed campaign), and each customer's products from
    their firings."""
    featured: dict[str, list[str]] = {}
    with store.session() as session:
        for customer, products in session.execute(
                select(TriggerFiring.customer_id, TriggerFiring.product_ids).where(
                    TriggerFiring.campaign_id == campaign_id,
                    TriggerFiring.state == "enqueued").order_by(TriggerFiring.fired_at)):
            featured.setdefault(customer, []).extend(
                p for p in products or [] if p not in featured.get(customer, []))
    spec = CampaignSpec.model_validate({
        "name": campaign_id, "audience": {"customer_ids": sorted(featured)},
        "products": {"strategy": "recommended", "count": rule.count},
        "template": rule.template, "candidates": rule.candidates})
    return spec, featured
