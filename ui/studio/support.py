"""The studio's "Support" tab, for a support lead:

- the report (gen/tasks/outcomes.py): involvement, resolution (confirmed and assumed, apart),
  handoffs by reason, satisfaction, and the knowledge gaps grouped by meaning; pick a gap and
  write the vetted answer the next shopper asking it will get;
- the vetted answers (shop/vetted.py): add, edit, retire or restore;
- what shoppers asked the chat to change about their orders (cancel, return; shop/orders.py),
  each with its order as stored, and the team's decision on it. The chat never changes an
  order itself; a person settles each request here or through `PATCH /v1/order-requests/{id}`.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from gen.tasks.outcomes import support_report
from shop.errors import NotFound
from shop.orders import get_order, order_requests, set_request_state
from shop.support_tables import ORDER_REQUEST_STATES
from shop.vetted import add_vetted, edit_vetted, vetted_answers
from ui.context import ShopContext
from ui.studio.common import PROGRESS, edge, needed

GAP_HEADERS = ["question", "times asked", "thumbs down", "also asked as", "comments"]
VETTED_HEADERS = ["id", "question", "answer", "origin", "active"]

REQUEST_HEADERS = ["request", "asked", "kind", "state", "order", "customer", "order status",
                   "shopper's words"]
ALL = "all"


@edge
def request_rows(context: ShopContext, state: str) -> list[list]:
    """Requests newest first, with their order's current status."""
    rows = []
    for request in order_requests(context.store, None if state == ALL else state):
        try:
            status = get_order(context.store, request["order_id"]).status
        except NotFound:  # erased meanwhile
            status = "gone"
        rows.append([request["id"], (request["created_at"] or "")[:16].replace("T", " "),
                     request["kind"], request["state"], request["order_id"],
                     request["customer_id"], status, request["message"]])
    return rows


@edge
def settle(context: ShopContext, request_id: float | None, state: str, shown: str
           ) -> tuple[str, list[list]]:
    if request_id is None:
        raise gr.Error("type the request number from the first column of the table")
    done = set_request_state(context.store, int(request_id), state)
    said = (f"Request **{done['id']}** ({done['kind']} order {done['order_id']}) is now "
            f"**{done['state']}**.")
    return said, request_rows(context, shown)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


@edge
def report_view(context: ShopContext, days: float, progress=PROGRESS
                ) -> tuple[str, pd.DataFrame, list[list]]:
    progress(0.2, desc="reading the chat outcomes")
    report = support_report(context.store, context.generation.knowledge.embed, int(days or 30))
    resolution, handoff = report["resolution"], report["handoff"]
    summary = (f"**{report['conversations']} conversations**, {report['answers']} answers in "
               f"the last {report['days']} days  \n"
               f"**Involvement:** {_pct(report['involvement'])} · **Resolution:** "
               f"{_pct(resolution['confirmed'])} confirmed by the shopper, "
               f"{_pct(resolution['assumed'])} assumed (no reply within 24 h), "
               f"{_pct(resolution['open'])} still open  \n"
               f"**Handed to a person:** {_pct(handoff['rate'])} · **Satisfaction:** "
               f"{_pct(report['satisfaction']['rate'])} ({report['satisfaction']['yes']} yes, "
               f"{report['satisfaction']['no']} no)")
    bars = pd.DataFrame(
        [{"what": f"answer: {k}", "count": v} for k, v in sorted(report["outcomes"].items())]
        + [{"what": f"handoff: {k}", "count": v} for k, v in handoff["by_reason"].items()])
    gaps = [[g["question"], g["count"], g["thumbs_down"], " | ".join(g["examples"][1:]),
             " | ".join(g["comments"])] for g in report["gaps"]]
    return summary, bars, gaps


@edge
def vetted_rows(context: ShopContext) -> list[list]:
    return [[a["id"], a["question"], a["answer"], a["origin"], a["active"]]
            for a in vetted_answers(context.store, active=None)]


@edge
def save_vetted(context: ShopContext, answer_id: str, question: str, answer: str,
                active: bool, origin: str = "studio") -> tuple[str, list[list]]:
    """A new vetted answer (no id), or a change to one (its id)."""
    if (answer_id or "").strip():
        done = edit_vetted(context.store, answer_id.strip(), question, answer, active)
        said = f"Saved **{done['id']}**" + ("" if done["active"] else " (retired)") + "."
    else:
        done = add_vetted(context.store, needed(question, "the question", "Do you engrave?"),
                          needed(answer, "the answer", "We don't, but ..."), origin)
        said = f"Added **{done['id']}**: the chat gives it to questions close to this one."
    return said, vetted_rows(context)


def support_tab(context: ShopContext) -> None:
    with gr.Tab("Support"):
        gr.Markdown("### How the chat does")
        with gr.Row():
            days = gr.Number(value=30, precision=0, minimum=1, maximum=366, label="Days",
                             elem_id="support-days", scale=1)
            show = gr.Button("Load report", variant="primary", elem_id="support-report-load",
                             scale=1)
        summary = gr.Markdown(elem_id="support-report")
        bars = gr.BarPlot(x="what", y="count", x_label_angle=-30, height=300,
                          label="Answers and handoffs", elem_id="support-report-plot")
        gr.Markdown("#### Knowledge gaps\nUnanswered and thumbs-down questions, grouped by "
                    "meaning, most frequent first. Click one to write its vetted answer.")
        gaps = gr.Dataframe(headers=GAP_HEADERS, interactive=False, wrap=True,
                            elem_id="support-gaps")

        gr.Markdown("### Vetted answers\nThe shop's own answers: a question close enough to "
                    "one gets its answer word for word. Leave the id empty to add one.")
        vetted = gr.Dataframe(headers=VETTED_HEADERS, interactive=False, wrap=True,
                              elem_id="support-vetted")
        with gr.Row():
            answer_id = gr.Textbox(label="Id (empty: a new answer)", elem_id="vetted-id",
                                   scale=1)
            active = gr.Checkbox(value=True, label="In use (untick to retire)",
                                 elem_id="vetted-active", scale=1)
        question = gr.Textbox(label="Question", elem_id="vetted-question")
        answer = gr.Textbox(label="Answer", lines=3, elem_id="vetted-answer")
        origin = gr.State("studio")
        save = gr.Button("Save vetted answer", variant="primary", elem_id="vetted-save")
        saved = gr.Markdown(elem_id="vetted-saved")

        def report(days_back, progress=PROGRESS):
            return report_view(context, days_back, progress)

        def listed():
            return vetted_rows(context)

        def store(answer_id_, question_, answer_, active_, origin_):
            return save_vetted(context, answer_id_, question_, answer_, active_, origin_)

        def from_gap(event: gr.SelectData):
            return "", event.row_value[0], "", True, "gap"

        def from_vetted(event: gr.SelectData):
            row = event.row_value
            return row[0], row[1], row[2], bool(row[4]), "studio"

        show.click(report, inputs=days, outputs=[summary, bars, gaps], api_name="support_report")
        show.click(listed, outputs=vetted, api_visibility="private")
        gaps.select(from_gap, outputs=[answer_id, question, answer, active, origin])
        vetted.select(from_vetted, outputs=[answer_id, question, answer, active, origin])
        save.click(store, inputs=[answer_id, question, answer, active, origin],
                   outputs=[saved, vetted], api_name="save_vetted_answer")

        gr.Markdown("### Order requests from the chat")
        gr.Markdown("Shoppers' cancel and return requests. Nothing was changed when they "
                    "asked: settle each one here once the order system has done it (or "
                    "declined it).")
        with gr.Row():
            shown = gr.Dropdown([ALL, *ORDER_REQUEST_STATES], value="open", label="Show",
                                elem_id="support-requests-state", scale=1)
            load = gr.Button("Load requests", elem_id="support-requests-load", scale=1)
        table = gr.Dataframe(headers=REQUEST_HEADERS, interactive=False, wrap=True,
                             elem_id="support-requests")
        with gr.Row():
            number = gr.Number(label="Request", precision=0, elem_id="support-request-id")
            state = gr.Dropdown(list(ORDER_REQUEST_STATES), value="done", label="Mark as",
                                elem_id="support-request-state")
            mark = gr.Button("Save", variant="primary", elem_id="support-request-save")
        saved = gr.Markdown(elem_id="support-request-saved")

        def rows(state_shown: str) -> list[list]:
            return request_rows(context, state_shown)

        def save(request_id, new_state: str, state_shown: str):
            return settle(context, request_id, new_state, state_shown)

        load.click(rows, inputs=shown, outputs=table, api_name="order_requests")
        shown.change(rows, inputs=shown, outputs=table, api_visibility="private")
        mark.click(save, inputs=[number, state, shown], outputs=[saved, table],
                   api_name="settle_order_request")
