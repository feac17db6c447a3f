"""The studio's "Copy" tab: find products, write ad variants, review them, export, test them.

The cards fill with the model's drafts as they are written (LiveDrafts), then show the
variants picked from them, checked and saved, one product at a time; each card is edited,
rated, approved or discarded through gen/tasks/copy_review.py, and approved copy is exported or
started as an experiment (experiments/service.py). The tab only wires those services.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

import gradio as gr

from experiments.spec import ExperimentSpec, VariantSpec
from gen.tasks.ad_copy import CHANNEL_LABELS, CopyOptions
from gen.tasks.copy_review import (
    copy_rows,
    export_csv,
    export_json,
    fields_text,
    review,
)
from ui.context import ShopContext
from ui.studio.common import LLM_CONCURRENCY, LLM_QUEUE, PROGRESS, actor, download, edge

MAX_CARDS = 6  # variant cards on screen; a larger set is still saved and exported
LIVE_EVERY_S = 0.5  # how often the cards show the drafts' new text
ACTIONS = {"approve": {"status": "approved"}, "discard": {"status": "discarded"},
           "up": {"rating": 1}, "down": {"rating": -1}, "save": {}}


@edge
def find_products(context: ShopContext, query: str) -> list[tuple[str, str]]:
    """(label, product id) choices for the product picker."""
    hits = context.search.search_products((query or "").strip() or "bestseller", k=12)
    return [(f"{h.id} · {h.title} · {h.metadata.get('price', '')}", h.id) for h in hits]


def audience_of_segment(context: ShopContext, segment: str | None, audience: str) -> str:
    """The audience line for the prompt: what was typed, else the segment's description."""
    segment = str(segment or "").strip()
    if audience.strip() or not segment:
        return audience.strip()
    described = {str(s["id"]): s["description"]
                 for s in context.recommender.segments()["segments"]}
    if segment not in described:
        raise gr.Error(f"no segment {segment!r}; the Customers tab lists them "
                       f"(0 to {len(described) - 1})")
    return described[segment][:200]


class LiveDrafts:
    """The drafts' text so far, filled by the writer's thread (`add`), read by the studio's
    generator (`changed`, `rows`)."""

    def __init__(self, product_id: str, drafts: int):
        self.product_id, self.drafts = product_id, drafts
        self.texts: dict[int, str] = {}
        self._lock = threading.Lock()
        self._version = self._seen = 0

    def add(self, draft: int, piece: str) -> None:
        with self._lock:
            self.texts[draft] = self.texts.get(draft, "") + piece
            self._version += 1

    def changed(self) -> bool:
        """True when text arrived since the last call."""
        with self._lock:
            changed, self._seen = self._version != self._seen, self._version
            return changed

    def rows(self, shown: int) -> list[dict]:
        """Card rows for the first `shown` drafts (not saved yet: no content id)."""
        with self._lock:
            texts = dict(self.texts)
        return [{"content_id": None, "product_id": self.product_id, "status": "writing",
                 "draft": n + 1, "drafts": self.drafts, "fields": {"draft": texts.get(n, "")}}
                for n in range(shown)]


@edge
def generate_copy(context: ShopContext, product_ids: list[str], channel: str, variants: int,
                  audience: str, segment: str | None, tone: str, campaign_id: str,
                  progress=PROGRESS):
    """Write `variants` drafts per product, saved as drafts. Yields the rows for the cards:
    while a product's drafts are written, its first drafts as they grow (status `writing`),
    then its picked, checked and stored variants (copy_review.copy_row dicts)."""
    if not product_ids:
        raise gr.Error("pick at least one product: search for it above, then select it")
    who = audience_of_segment(context, segment, audience or "")
    rows: list[dict] = []
    progress(0, desc="loading the model")
    for product_id in progress.tqdm(product_ids, desc="writing variants", unit="product"):
        options = CopyOptions(product_ids=[product_id], channel=channel, variants=int(variants),
                              audience=who, tone=(tone or "").strip() or None,
                              campaign_id=(campaign_id or "").strip() or None)
        live = LiveDrafts(product_id, options.variants * options.candidates)
        shown = max(0, min(options.variants, MAX_CARDS - len(rows)))
        with ThreadPoolExecutor(1, thread_name_prefix="studio-copy") as pool:
            writing = pool.submit(context.generation.copy, options, on_piece=live.add)
            while True:  # at most one update per LIVE_EVERY_S: the decode loop comes first
                finished = bool(wait([writing], timeout=LIVE_EVERY_S).done)
                # text first: whatever arrived is shown before the picked variants replace it
                if live.changed() and shown:
                    yield rows + live.rows(shown)
                if finished:
                    break
            result = writing.result()
        rows += copy_rows(context.store, result["products"][0]["content_ids"])
        yield rows


def review_copy(context: ShopContext, content_id: int, action: str, text: str | None,
                request: gr.Request) -> dict:
    """approve | discard | up | down | save (the edited text) one stored variant."""
    if action not in ACTIONS:
        raise gr.Error(f"action is one of {', '.join(ACTIONS)}")
    return edge(review)(context.store, int(content_id), actor(request), text=text or None,
                        **ACTIONS[action])


@edge
def export_approved(context: ShopContext, product_ids: list[str] | None) -> list[str]:
    """The approved copy (of the picked products, else all) as CSV and JSON downloads."""
    rows = [r for r in copy_rows(context.store, status="approved")
            if not product_ids or r["product_id"] in product_ids]
    if not rows:
        raise gr.Error("no approved copy yet: approve a variant on its card first")
    return [download("approved-copy.csv", export_csv(rows)),
            download("approved-copy.json", export_json(rows))]


@edge
def start_experiment(context: ShopContext, name: str, policy: str, rows: list[dict]) -> str:
    """An experiment over the approved variants on screen (each one's text as shipped)."""
    approved = [r for r in rows or [] if r["status"] == "approved"]
    if len(approved) < 2:
        raise gr.Error("approve at least two variants on the cards to start an experiment")
    spec = ExperimentSpec(name=(name or "").strip(), policy=policy, variants=[
        VariantSpec(key=f"c{r['content_id']}", content_id=r["content_id"],
                    text=fields_text(r["fields"])) for r in approved])
    experiment_id = context.experiments.create(spec)
    return (f"Experiment **{spec.name}** (id {experiment_id}) started with "
            f"{len(approved)} variants; follow it on the Experiments tab.")


def card_header(row: dict) -> str:
    if row["status"] == "writing":
        return (f"**{row['product_id']}** · writing… candidate {row['draft']} of "
                f"{row['drafts']} (the best checked candidates become the variants)")
    thumbs = {1: "rated up", -1: "rated down"}.get(row["rating"], "unrated")
    problems = "; ".join(row["problems"]) or "none"
    return (f"**{row['product_id']}** · #{row['content_id']} · **{row['status']}** · {thumbs}"
            f"{' · edited' if row['edited'] else ''}  \nwritten by {row['source']} "
            f"({row['model']}, prompt `{row['prompt']}`) · problems: {problems}")


def cards_update(rows: list[dict] | None) -> list:
    """Visibility, header and text for each card slot."""
    rows = rows or []
    out = []
    for slot in range(MAX_CARDS):
        row = rows[slot] if slot < len(rows) else None
        out += [gr.update(visible=row is not None),
                card_header(row) if row else "",
                (row["fields"]["draft"] if row["status"] == "writing"
                 else fields_text(row["fields"])) if row else ""]
    return out


def copy_tab(context: ShopContext) -> None:
    with gr.Tab("Copy"):
        gr.Markdown("Ad variants for products. Limits and facts are checked; every variant is "
                    "saved as a draft until you approve or discard it.")
        with gr.Row():
            query = gr.Textbox(label="Find products", placeholder="a product name or a need",
                               elem_id="copy-search", scale=3)
            find = gr.Button("Search", elem_id="copy-search-button", scale=1)
        products = gr.Dropdown([], value=[], multiselect=True, label="Products",
                               allow_custom_value=True, elem_id="copy-products")
        with gr.Row():
            channel = gr.Dropdown(list(CHANNEL_LABELS), value="search", label="Channel",
                                  elem_id="copy-channel")
            variants = gr.Slider(1, 10, value=3, step=1, label="Variants per product",
                                 elem_id="copy-count")
            tone = gr.Textbox(label="Tone (optional)", placeholder="warm, playful")
        with gr.Row():
            audience = gr.Textbox(label="Audience", placeholder="e.g. first-time buyers")
            segment = gr.Textbox(label="…or segment id", placeholder="0",
                                 elem_id="copy-segment")
            campaign = gr.Textbox(label="Campaign id (optional)")
        generate = gr.Button("Generate", variant="primary", elem_id="copy-generate")
        rows = gr.JSON(label="Variants (as stored)", elem_id="copy-variants", visible=False)

        cards = []
        for slot in range(MAX_CARDS):
            with gr.Group(visible=False, elem_id=f"copy-card-{slot}") as card:
                header = gr.Markdown(elem_id=f"copy-head-{slot}")
                text = gr.Textbox(show_label=False, lines=2, interactive=True,
                                  elem_id=f"copy-text-{slot}")
                with gr.Row():
                    buttons = {action: gr.Button(label, size="sm",
                                                 elem_id=f"copy-{action}-{slot}")
                               for action, label in (("up", "Thumbs up"),
                                                     ("down", "Thumbs down"),
                                                     ("save", "Save edit"),
                                                     ("approve", "Approve"),
                                                     ("discard", "Discard"))}
            cards += [card, header, text]
            for action, button in buttons.items():
                button.click(_card_action(context, slot, action), inputs=[rows, text],
                             outputs=rows, api_visibility="private")

        with gr.Row():
            export = gr.Button("Export approved (CSV + JSON)", elem_id="copy-export")
            files = gr.File(label="Downloads", file_count="multiple", elem_id="copy-files")
        with gr.Row():
            name = gr.Textbox(label="Experiment name", placeholder="spring-headlines",
                              elem_id="copy-experiment-name")
            policy = gr.Dropdown(["thompson", "ab"], value="thompson", label="Policy")
            start = gr.Button("Start an experiment with the approved variants",
                              elem_id="copy-experiment")
        started = gr.Markdown(elem_id="copy-experiment-result")

        def search(text: str):
            return gr.update(choices=find_products(context, text))

        def write(ids: list[str], channel_name: str, count: int, who: str, segment_id: str,
                  voice: str, campaign_id: str, progress=PROGRESS):
            yield from generate_copy(context, ids, channel_name, count, who, segment_id, voice,
                                     campaign_id, progress=progress)

        def review_one(content_id: int, action: str, text: str | None,
                       request: gr.Request) -> dict:
            """approve | discard | up | down | save a stored variant (text: fields_text)."""
            return review_copy(context, content_id, action, text, request)

        find.click(search, inputs=query, outputs=products, api_visibility="private")
        query.submit(search, inputs=query, outputs=products, api_visibility="private")
        generate.click(write, inputs=[products, channel, variants, audience, segment, tone,
                                      campaign],
                       outputs=rows, api_name="generate_copy", concurrency_id=LLM_QUEUE,
                       concurrency_limit=LLM_CONCURRENCY)
        rows.change(cards_update, inputs=rows, outputs=cards, api_visibility="private")
        export.click(lambda ids: export_approved(context, ids), inputs=products, outputs=files,
                     api_name="export_copy")
        start.click(lambda *v: start_experiment(context, *v), inputs=[name, policy, rows],
                    outputs=started, api_name="start_experiment")
        gr.api(review_one, api_name="review_copy")


def _card_action(context: ShopContext, slot: int, action: str):
    def handler(rows: list[dict], text: str, request: gr.Request) -> list[dict]:
        if not rows or slot >= len(rows):
            raise gr.Error("generate variants first")
        if rows[slot]["content_id"] is None:
            raise gr.Error("the variants are still being written; wait for them")
        rows = list(rows)
        rows[slot] = review_copy(context, rows[slot]["content_id"], action,
                                 text if action in ("save", "approve") else None, request)
        return rows

    return handler
