"""The studio's "Chat playground": talk to the shop assistant as a shopper would, on the same
chain as the widget (GenService.chat_stream), and see why it answered as it did: the passages
it cited, the products it suggested and why, the guard's events, and whether it hands off.

Playground turns are not stored (save=False): they are a marketer's tests, not shoppers'.
"""

from __future__ import annotations

import gradio as gr

from gen.tasks.chat_messages import ChatReply, ChatRequest, ChatTurn
from ui.context import ShopContext
from ui.studio.common import LLM_CONCURRENCY, edge

MAX_TURNS = 20  # ChatRequest's history limit: older turns are dropped


def history_turns(history: list[dict]) -> list[ChatTurn]:
    """Gradio's messages ({"role", "content"}, content a string or parts) as ChatTurns."""
    turns = []
    for message in history[-MAX_TURNS:]:
        content = message.get("content")
        if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
            content = " ".join(part.get("text", "") for part in content
                               if isinstance(part, dict))
        if message.get("role") in ("user", "assistant") and isinstance(content, str):
            turns.append(ChatTurn(role=message["role"], content=content[:4000]))
    return turns


def explain(reply: ChatReply) -> str:
    """What the reply stood on, for the marketer (markdown)."""
    handoff = "yes: " + reply.handoff_reason if reply.handoff else "no"
    lines = [f"**Intent:** {reply.intent} · **mode:** {reply.mode or '-'} · **hand off:** "
             + handoff]
    if reply.question:
        lines.append(f"**Question as searched:** {reply.question}")
    if reply.parsed_filters:
        lines.append("**Filters read:** " + ", ".join(f"{k} = {v}" for k, v in
                                                       reply.parsed_filters.items()))
    lines.append("**Passages cited:**" if reply.citations else "**Passages cited:** none")
    lines += [f"{c['n']}. {c['title']} ({c.get('doc_id') or c.get('id')}) {c.get('url', '')}"
              for c in reply.citations]
    if reply.products:
        lines.append("**Products suggested:**")
        lines += [f"- {p['id']} {p['title']} ({p.get('price_text', '')}): {p['reason']}"
                  for p in reply.products]
    lines.append("**Guard events:** " + ("; ".join(reply.guard_events) or "none"))
    if reply.redacted:
        lines.append("**Redacted from the message:** " + ", ".join(reply.redacted))
    lines.append(f"**Grounding problems:** {reply.violations_before} written, "
                 f"{reply.violations_after} sent")
    return "\n\n".join(lines)


@edge
def chat_turn(context: ShopContext, message: str, history: list[dict]):
    """Stream (answer so far, explanation) pairs; the last pair is the whole reply."""
    if not (message or "").strip():
        raise gr.Error("type a question, e.g. How do I return an item?")
    request = ChatRequest(message=message, history=history_turns(history or []))
    answer = ""
    for item in context.generation.chat_stream(request, save=False):
        if isinstance(item, ChatReply):
            yield item.answer, explain(item)
        else:
            answer += item
            yield answer, "_writing…_"


def chat_tab(context: ShopContext) -> None:
    with gr.Tab("Chat playground"):
        gr.Markdown("The widget's assistant. Each reply shows what it stood on; "
                    "these turns are not stored.")
        with gr.Row():
            with gr.Column(scale=3):
                details = gr.Markdown(render=False, elem_id="chat-details")

                def respond(message: str, history: list[dict]):
                    yield from chat_turn(context, message, history)

                gr.ChatInterface(respond, additional_outputs=[details], api_name="chat_turn",
                                 examples=["How do I return an item?",
                                           "Something under 50 EUR for a gift",
                                           "Can I speak to a human?"],
                                 run_examples_on_click=False, concurrency_limit=LLM_CONCURRENCY,
                                 fill_height=False, autofocus=False)
            with gr.Column(scale=2):
                gr.Markdown("#### Why this reply")
                details.render()
