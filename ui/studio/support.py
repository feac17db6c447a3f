"""The studio's "Support" tab: what shoppers asked the chat to change about their orders
(cancel, return; shop/orders.py), each with its order as stored, and the team's decision on it.
The chat never changes an order itself; a person settles each request here or through
`PATCH /v1/order-requests/{id}`.
"""

from __future__ import annotations

import gradio as gr

from shop.errors import NotFound
from shop.orders import get_order, order_requests, set_request_state
from shop.schema import ORDER_REQUEST_STATES
from ui.context import ShopContext
from ui.studio.common import edge

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


def support_tab(context: ShopContext) -> None:
    with gr.Tab("Support"):
        gr.Markdown("### Order requests from the chat\nShoppers' cancel and return requests. "
                    "Nothing was changed when they asked: settle each one here once the "
                    "order system has done it (or declined it).")
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
