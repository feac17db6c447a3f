"""The studio's "Customers" tab: the segments, a map of customers coloured by segment, and one
customer's data (profile, consent, predicted value, events, recommendations, stored emails and
chats) with the export and erase of shop/privacy.py, audited under the signed-in studio user.
"""

from __future__ import annotations

import json
import math

import gradio as gr
import numpy as np
import pandas as pd
from sqlalchemy import func, select

from recsys.training import SEGMENT_HEADERS
from shop.privacy import erase_customer, export_customer
from shop.schema import Event, Product
from ui.context import ShopContext
from ui.studio.common import PROGRESS, actor, download, edge, needed
from ui.studio.recsys import HEADERS as RECOMMENDATION_HEADERS
from ui.studio.recsys import recommendation_rows, segment_rows

EVENT_HEADERS = ["when", "type", "product", "query"]
CONTENT_HEADERS = ["kind", "when", "campaign", "status", "subject / answer"]
MAP_CUSTOMERS = 1500  # at most this many points on the map (every n-th customer by id)


def customer_map(context: ShopContext) -> pd.DataFrame:
    """Customers placed by the first two principal components of their category mix (the
    share of their events per category, the main block of the segmentation's features)."""
    from sklearn.decomposition import PCA

    with context.store.session() as session:
        counts = session.execute(
            select(Event.customer_id, Product.category, func.count())
            .join(Product, Product.id == Event.product_id)
            .group_by(Event.customer_id, Product.category)).all()
    if not counts:
        raise gr.Error("no product events yet: ingest events first (`shopwright ingest events`)")
    frame = pd.DataFrame(counts, columns=["customer", "category", "n"]).pivot_table(
        index="customer", columns="category", values="n", fill_value=0)
    frame = frame.iloc[::max(1, math.ceil(len(frame) / MAP_CUSTOMERS))]  # every n-th
    shares = frame.to_numpy(dtype=float, copy=True)
    shares /= shares.sum(axis=1, keepdims=True)
    points = PCA(n_components=2, random_state=0).fit_transform(shares) if len(frame) > 2 \
        else np.zeros((len(frame), 2))
    segments = context.recommender.segments().get("assignments", {})
    top = frame.columns.to_numpy()[shares.argmax(axis=1)]
    return pd.DataFrame({"x": points[:, 0].round(4), "y": points[:, 1].round(4),
                         "segment": [str(segments.get(c, "none")) for c in frame.index],
                         "customer": frame.index, "top category": top})


@edge
def segments_and_map(context: ShopContext, progress=PROGRESS) -> tuple[list, pd.DataFrame]:
    progress(0.1, desc="loading the recommender's segments")
    rows = segment_rows(context)
    progress(0.6, desc="placing customers on the map")
    return rows, customer_map(context)


@edge
def look_up(context: ShopContext, customer_id: str, request: gr.Request,
            progress=PROGRESS) -> tuple[str, list, list, list]:
    """Profile and consent, event timeline (newest first), recommendations with reasons, and
    the emails and chats stored for them. Reading personal data is audited as a view."""
    customer_id = needed(customer_id, "a customer id", "C00001")
    progress(0.1, desc="reading the customer's data")
    data = export_customer(context.store, customer_id, actor(request),
                           segment=lambda c: _segment(context, c), action="view")
    profile = data["profile"]
    unsubscribed = profile["unsubscribed_at"]
    consent = ("unsubscribed " + unsubscribed if unsubscribed else
               "gives marketing consent" if profile["marketing_consent"] else
               "no marketing consent")
    segment = data["segment"]
    summary = (f"### {profile['first_name']} ({profile['id']})\n{profile['email']} · "
               f"{profile['locale']} · customer since {(profile['created_at'] or '')[:10]}  \n"
               f"**Consent:** {consent}  \n**Segment:** "
               + (f"{segment['id']}: {segment['description']}" if segment else "none") +
               f"  \n{len(data['events'])} events, {len(data['campaign_emails'])} campaign "
               f"emails, {len(data['chats'])} chats, {len(data['orders'])} orders"
               + _scores_line(data["scores"]))
    events = [[e["ts"], e["type"], e["product_id"] or "", e["query"] or ""]
              for e in reversed(data["events"])]
    progress(0.5, desc="recommending")
    _, recommendations = recommendation_rows(context, customer_id, 5, "", None, 3)
    stored = [[c["task"], c["created_at"], c["campaign_id"] or "", c["status"],
               _gist(c["output"])] for c in data["generated_content"]]
    stored += [["campaign email", r["created_at"], r["campaign_id"], r["state"],
                _gist(r["output"] or {})] for r in data["campaign_emails"]]
    stored += [["chat", c["created_at"], "", "handoff" if c["handoff"] else "",
                f"{len(c['turns'])} turns"] for c in data["chats"]]
    stored += [["order", o["placed_at"], "", o["status"],
                f"{o['id']} · {o['total']} {o['currency']} · {len(o['items'])} items"]
               for o in data["orders"]]
    stored += [[f"{r['kind']} request", r["created_at"], "", r["state"],
                f"order {r['order_id']}: {r['message']}"] for r in data["order_requests"]]
    return summary, events, recommendations, stored


def _scores_line(scores: dict | None) -> str:
    if scores is None:
        return "  \n**Predicted value:** not scored yet (`shopwright customers scores`)"
    churn = "n/a (no order yet)" if scores["churn_risk"] is None else f"{scores['churn_risk']:.0%}"
    return (f"  \n**Next {scores['horizon_days']} days** (as of {scores['as_of'][:10]}, "
            f"{scores['model']}): {scores['p_purchase']:.0%} chance of an order, "
            f"{scores['expected_orders']:.2f} orders expected, "
            f"{scores['expected_spend']:.2f} expected spend, churn risk {churn}, "
            f"next order {scores['next_order_date'] or 'not expected soon'}")


@edge
def export_file(context: ShopContext, customer_id: str, request: gr.Request) -> str:
    customer_id = needed(customer_id, "a customer id", "C00001")
    data = export_customer(context.store, customer_id, actor(request),
                           segment=lambda c: _segment(context, c))
    return download(f"customer-{customer_id}.json", json.dumps(data, indent=2) + "\n")


@edge
def erase(context: ShopContext, customer_id: str, confirmed: bool,
          request: gr.Request) -> str:
    customer_id = needed(customer_id, "a customer id", "C00001")
    if not confirmed:
        raise gr.Error("tick “I understand this cannot be undone” to erase the customer")
    counts = erase_customer(context.store, customer_id, actor(request))
    if "recommender" in context.__dict__:  # loaded: forget now (as DELETE /v1/customers does)
        context.recommender.forget(customer_id)
    if "review_aspects" in context.__dict__:  # their words leave the summaries too
        context.review_aspects.forget()
    return (f"Erased **{customer_id}**: " + ", ".join(f"{n} {table}" for table, n in
                                                      counts.items()))


def _segment(context: ShopContext, customer_id: str) -> dict | None:
    label = context.served_segment(customer_id)
    if label is None:
        return None
    described = {s["id"]: s["description"] for s in context.recommender.segments()["segments"]}
    return {"id": label, "description": described.get(label)}


def _gist(output: dict) -> str:
    return str(output.get("subject") or output.get("answer") or "")[:120]


def customers_tab(context: ShopContext) -> None:
    with gr.Tab("Customers"):
        gr.Markdown("### Segments\nK-Means on category mix, recency, frequency and spend.")
        load = gr.Button("Load segments and map", elem_id="customers-segments-button")
        segments = gr.Dataframe(headers=SEGMENT_HEADERS, interactive=False, wrap=True,
                                elem_id="customers-segments")
        points = gr.ScatterPlot(x="x", y="y", color="segment", tooltip=["customer", "segment",
                                                                        "top category"],
                                x_title="principal component 1",
                                y_title="principal component 2", height=420,
                                label="Customers by category mix, coloured by segment",
                                elem_id="customers-map")
        def segment_map(progress=PROGRESS):
            return segments_and_map(context, progress)

        load.click(segment_map,
                   outputs=[segments, points], api_name="segments")

        gr.Markdown("### One customer")
        with gr.Row():
            customer = gr.Textbox(label="Customer id", placeholder="C00001",
                                  elem_id="customer-id", scale=3)
            show = gr.Button("Look up", variant="primary", elem_id="customer-lookup", scale=1)
        profile = gr.Markdown(elem_id="customer-profile")
        with gr.Tab("Events"):
            events = gr.Dataframe(headers=EVENT_HEADERS, interactive=False,
                                  elem_id="customer-events")
        with gr.Tab("Recommended products"):
            recommendations = gr.Dataframe(headers=RECOMMENDATION_HEADERS, interactive=False,
                                           wrap=True, elem_id="customer-recommendations")
        with gr.Tab("Emails, chats and orders"):
            stored = gr.Dataframe(headers=CONTENT_HEADERS, interactive=False, wrap=True,
                                  elem_id="customer-content")
        with gr.Row():
            export = gr.Button("Export (JSON)", elem_id="customer-export")
            exported = gr.File(label="Export", elem_id="customer-export-file")
        with gr.Row():
            confirmed = gr.Checkbox(label="I understand this cannot be undone")
            delete = gr.Button("Erase customer", variant="stop", elem_id="customer-erase")
        erased = gr.Markdown(elem_id="customer-erased")

        def lookup(customer_id: str, request: gr.Request, progress=PROGRESS):
            return look_up(context, customer_id, request, progress)

        def export_json(customer_id: str, request: gr.Request) -> str:
            return export_file(context, customer_id, request)

        def erase_one(customer_id: str, ok: bool, request: gr.Request) -> str:
            return erase(context, customer_id, ok, request)

        shown = [profile, events, recommendations, stored]
        show.click(lookup, inputs=customer, outputs=shown, api_name="customer_lookup")
        customer.submit(lookup, inputs=customer, outputs=shown, api_visibility="private")
        export.click(export_json, inputs=customer, outputs=exported, api_name="export_customer")
        delete.click(erase_one, inputs=[customer, confirmed], outputs=erased,
                     api_name="erase_customer")
