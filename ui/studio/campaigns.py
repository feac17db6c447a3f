"""The studio's "Email campaigns" tab: preview one customer's email, count an audience, launch
or resume the campaign job (campaigns/) with a live progress bar, download its files.

The job is campaigns/runner.py's `run_campaign`, run in the studio process on the context's
own generation service (the model the studio already loaded); its tqdm bar is the progress
bar here (TQDM_PROGRESS). A campaign is resumed by running its stored spec
again: the job's rows make that exactly-once (campaigns/job.py).
"""

from __future__ import annotations

import gradio as gr
from sqlalchemy import select

from campaigns.control import incremental_revenue
from campaigns.job import CampaignJob
from campaigns.offers import campaign_offers
from campaigns.rows import state_counts
from campaigns.runner import run_campaign
from campaigns.spec import Audience, CampaignSpec
from shop.errors import NotFound
from shop.schema import Campaign
from ui.context import ShopContext
from ui.studio.common import (
    LLM_CONCURRENCY,
    LLM_QUEUE,
    PROGRESS,
    TQDM_PROGRESS,
    download,
    edge,
    needed,
)

MAX_STUDIO_AUDIENCE = 50  # larger campaigns belong to `shopwright campaign run` (or Ray)


@edge
def preview_email(context: ShopContext, customer_id: str, campaign_id: str,
                  progress=PROGRESS) -> tuple[str, str, str, str]:
    """One personalized email: a summary line, its HTML, its text part, and an .eml file."""
    customer_id = needed(customer_id, "a customer id", "C00001")
    progress(0.1, desc="recommending and writing")
    draft = context.generation.email_preview(customer_id, (campaign_id or "").strip() or None)
    header = (f"**Subject:** {draft.subject}  \n**Preheader:** {draft.preheader}  \n"
              f"**Products from:** {draft.recommendation_source}  \n**Written by:** "
              f"{draft.source}  \n**Language:** {draft.language}"
              + ("" if draft.language in context.settings.llm_languages else
                 " (the localized template: the model is not declared to write it)")
              + (f"  \n**Removed before shipping:** {'; '.join(draft.promises_before)}"
                 if draft.promises_before else "")
              + ("" if draft.eligible else "  \n**Not eligible** "
                                   "(no consent or unsubscribed): it would not be sent"))
    eml = download(f"{customer_id}.eml", bytes(draft.to_message(context.settings)))
    return header, draft.html, draft.text, eml


def campaign_spec(name: str, segment: str | None, customer_ids: str,
                  candidates: int) -> CampaignSpec:
    """A campaign from the tab's fields: a segment or listed customers, recommended products."""
    ids = [i.strip() for i in (customer_ids or "").replace("\n", ",").split(",") if i.strip()]
    segment = str(segment or "").strip()
    if not (ids or segment.isdigit()):
        raise gr.Error("enter a segment id (the Customers tab lists them) or customer ids "
                       "(C00001, C00002)")
    audience = Audience(customer_ids=ids) if ids else Audience(segment=int(segment))
    return CampaignSpec(name=needed(name, "a campaign name", "spring-hikers"),
                        audience=audience, candidates=int(candidates))


def campaign_job(context: ShopContext, spec: CampaignSpec) -> CampaignJob:
    def segment_members(segment: int) -> list[str]:
        assignments = context.recommender.segments().get("assignments", {})
        return sorted(c for c, s in assignments.items() if s == segment)

    return CampaignJob(spec, context.generation, segment_members=segment_members,
                       product_audience=lambda product, count:
                       context.recommender.likely_buyers(product, count))


@edge
def plan_campaign(context: ShopContext, name: str, segment: str | None, customer_ids: str,
                  candidates: int, limit: int) -> tuple[str, dict]:
    """The dry run: who the campaign would reach after consent, unsubscribes and the cap."""
    job = campaign_job(context, campaign_spec(name, segment, customer_ids, candidates))
    plan = job.plan(_limit(limit))
    text = (f"Audience matches **{plan.matched}** customers: {plan.no_consent} without "
            f"marketing consent, {plan.unsubscribed} unsubscribed, {plan.capped} already at the "
            f"frequency cap, {plan.control} held out as the control group. "
            f"**{len(plan.eligible)}** "
            f"would get an email (limit {plan.limit}).")
    if plan.unknown:
        text += f"  \nUnknown ids: {', '.join(plan.unknown[:10])}"
    return text, plan.as_dict() | {"customer_ids": plan.eligible}


@edge
def launch_campaign(context: ShopContext, name: str, segment: str | None, customer_ids: str,
                    candidates: int, limit: int, progress=TQDM_PROGRESS
                    ) -> tuple[str, dict, list[str]]:
    """Run the campaign job for the first `limit` eligible customers; a rerun with the same
    name continues where it stopped."""
    spec = campaign_spec(name, segment, customer_ids, candidates)
    return _run(context, spec, _limit(limit), progress)


@edge
def resume_campaign(context: ShopContext, name: str, limit: int,
                    progress=TQDM_PROGRESS) -> tuple[str, dict, list[str]]:
    """Run a campaign again from the spec it was launched with (here or by the CLI)."""
    name = needed(name, "the campaign's name", "spring-hikers")
    with context.store.session() as session:
        stored = session.scalar(select(Campaign.spec).where(Campaign.id == name))
    if not stored:
        raise NotFound(f"no campaign {name!r} was launched yet; launch it first")
    return _run(context, CampaignSpec.model_validate(stored), _limit(limit), progress)


def _run(context: ShopContext, spec: CampaignSpec, limit: int,
         progress: gr.Progress) -> tuple[str, dict, list[str]]:
    progress(0, desc=f"campaign {spec.name}: choosing the audience")
    out_dir = context.settings.campaigns_dir / spec.name
    summary = run_campaign(lambda: campaign_job(context, spec), out_dir, limit, "local")
    states = summary["states"]
    text = (f"Campaign **{spec.name}**: {states['generated']} written, {states['skipped']} "
            f"skipped, {states['failed']} failed, {states['pending']} pending; "
            f"{summary['in_files']} in the files.")
    # copies: gradio serves files from its temp folder, and DATA_DIR may be anywhere
    return text, summary, [download(name, (out_dir / name).read_bytes())
                           for name in ("emails.jsonl", "summary.json")]


@edge
def campaign_status(context: ShopContext, name: str) -> dict:
    name = needed(name, "the campaign's name", "spring-hikers")
    counts = state_counts(context.store, name)
    if not counts:
        raise NotFound(f"no campaign {name!r} has run yet")
    return counts | {"incremental_revenue": incremental_revenue(context.store, name)}


@edge
def offers_report(context: ShopContext, name: str) -> tuple[str, dict]:
    """A campaign's personal offer: codes issued and redeemed, revenue, discount cost, the
    uses flagged and not counted, and the arms (the same as GET /v1/campaigns/{id}/offers)."""
    report = campaign_offers(context.store, needed(name, "the campaign's name", "spring-hikers"))
    if report["offer"] is None and not report["issued"]:
        return f"Campaign **{report['campaign_id']}** carries no personal offer.", report
    rate = report["redemption_rate"]
    currency = report["currency"] or ""
    flagged = report["flagged"]
    arms = report["arms"]
    text = (f"**{report['issued']}** codes issued, **{report['redeemed']}** redeemed"
            + (f" ({rate:.1%})" if rate is not None else "")
            + f"; revenue {report['revenue']:.2f} {currency}, discount cost "
            f"{report['discount_cost']:.2f} {currency}.  \nFlagged, not counted: "
            f"{flagged['reused']} reused, {flagged['other_customer']} by another customer, "
            f"{flagged['expired']} expired.  \nArms: {arms['offer']} offer, "
            f"{arms['no_offer']} no offer, {arms['control']} control.")
    return text, report


def _limit(limit: float | None) -> int:
    if not limit or not 1 <= int(limit) <= MAX_STUDIO_AUDIENCE:
        raise gr.Error(f"set a limit between 1 and {MAX_STUDIO_AUDIENCE}; larger campaigns "
                       "run with `shopwright campaign run FILE`")
    return int(limit)


def campaigns_tab(context: ShopContext) -> None:
    with gr.Tab("Email campaigns"):
        gr.Markdown("### Preview one email\nOnly the first name goes to the model; products "
                    "and reasons come from the recommender.")
        with gr.Row():
            customer = gr.Textbox(label="Customer id", value="C00001", elem_id="email-customer")
            email_campaign = gr.Textbox(label="Campaign id (optional)")
            preview = gr.Button("Preview", variant="primary", elem_id="email-preview")
        header = gr.Markdown()
        with gr.Row():
            body = gr.HTML(elem_id="email-html")
            text = gr.Textbox(label="Text part", lines=14, elem_id="email-text")
        eml = gr.File(label=".eml", elem_id="email-eml")

        def show(customer_id: str, campaign_id: str, progress=PROGRESS):
            return preview_email(context, customer_id, campaign_id, progress)

        preview.click(show, inputs=[customer, email_campaign], outputs=[header, body, text, eml],
                      api_name="email_preview", concurrency_id=LLM_QUEUE,
                      concurrency_limit=LLM_CONCURRENCY)

        gr.Markdown("### Campaign\nA segment or a list of customers; consent and "
                    f"unsubscribes are applied. The studio runs up to {MAX_STUDIO_AUDIENCE} "
                    "emails; launching again with the same name resumes, exactly once each.")
        with gr.Row():
            name = gr.Textbox(label="Campaign name", placeholder="spring-newsletter",
                              elem_id="campaign-name")
            segment = gr.Textbox(label="Segment id", placeholder="0", elem_id="campaign-segment")
            ids = gr.Textbox(label="…or customer ids", placeholder="C00001, C00002",
                             elem_id="campaign-customers")
        with gr.Row():
            candidates = gr.Slider(1, 8, value=2, step=1, label="Drafts per email (best kept)")
            limit = gr.Number(label="Limit (first N eligible)", value=3, precision=0,
                              elem_id="campaign-limit")
        with gr.Row():
            plan_button = gr.Button("Count audience (dry run)", elem_id="campaign-plan")
            launch = gr.Button("Launch", variant="primary", elem_id="campaign-launch")
            resume = gr.Button("Resume", elem_id="campaign-resume")
            status = gr.Button("Status", elem_id="campaign-status")
        result = gr.Markdown(elem_id="campaign-result")
        details = gr.JSON(label="Details", elem_id="campaign-details")
        files = gr.File(label="emails.jsonl and summary.json", file_count="multiple",
                        elem_id="campaign-files")
        fields = [name, segment, ids, candidates]
        plan_button.click(lambda *v: plan_campaign(context, *v), inputs=fields + [limit],
                          outputs=[result, details], api_name="campaign_plan")

        def run(campaign: str, segment_id: str, customer_ids: str, drafts: int, most: int,
                progress=TQDM_PROGRESS):
            return launch_campaign(context, campaign, segment_id, customer_ids, drafts, most,
                                   progress)

        def again(campaign: str, most: int, progress=TQDM_PROGRESS):
            return resume_campaign(context, campaign, most, progress=progress)

        launch.click(run, inputs=fields + [limit], outputs=[result, details, files],
                     api_name="launch_campaign", concurrency_id=LLM_QUEUE,
                     concurrency_limit=LLM_CONCURRENCY)
        resume.click(again, inputs=[name, limit], outputs=[result, details, files],
                     api_name="resume_campaign", concurrency_id=LLM_QUEUE,
                     concurrency_limit=LLM_CONCURRENCY)
        status.click(lambda n: campaign_status(context, n), inputs=name, outputs=details,
                     api_name="campaign_status")

        gr.Markdown("### Offer\nThe named campaign's personal codes: issued, redeemed by "
                    "orders, what they earned and cost, and the uses that did not count.")
        offers_button = gr.Button("Offer results", elem_id="campaign-offers")
        offers_text = gr.Markdown(elem_id="campaign-offers-result")
        offers_button.click(lambda n: offers_report(context, n), inputs=name,
                            outputs=[offers_text, details], api_name="campaign_offers")
