"""The chat routes' memory: each request belongs to a server-side session (shop/sessions.py),
read before the answer and written after it.

A request without a `session_id`, or with one that is unknown or expired, starts a new
session (the client's own `history` is used that once); with a live one, the session's turns
are the history and the client's are ignored. Both chat APIs return the session id
(`session_id` in /v1/chat's reply, `shopwright.session_id` in a chat completion).
"""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from gen.checks.guardrails import redact_pii
from gen.tasks.chat_messages import ChatReply, ChatRequest, ChatTurn
from gen.tasks.orders import Asker
from gen.tasks.outcomes import outcome
from shop.keys import Caller
from shop.outcomes import record_outcome
from shop.schema import utcnow
from shop.sessions import add_turns, create_session, load_session
from ui.context import ShopContext

HISTORY_TURNS = 10  # the session's last turns the model sees
TURN_CHARS = 4000  # ChatTurn's limit


async def resume(context: ShopContext, caller: Caller,
                 request: ChatRequest) -> tuple[str, ChatRequest, Asker]:
    """(the session id, the request with the session's history, who asks: the session's
    customer and the orders it proved; gen/tasks/orders.py)."""
    return await run_in_threadpool(_resume, context, caller, request)


async def remember(context: ShopContext, session_id: str, request: ChatRequest,
                   reply: ChatReply) -> None:
    """Add the question (personal data redacted) and the answer to the session, and how the
    answer ended (shop/outcomes.py); the reply learns its `turn_id`."""
    reply.session_id = session_id
    at = utcnow().isoformat()
    asked = {"role": "user", "content": redact_pii(request.message)[0], "at": at}
    answered = {"role": "assistant", "content": reply.answer, "citations": reply.citations,
                "products": reply.products, "handoff": reply.handoff, "at": at,
                "order_ids": reply.order_ids}
    ids = await run_in_threadpool(add_turns, context.store, session_id, asked, answered)
    if ids:  # the answer's turn: the shopper's feedback names it (POST /v1/chat/feedback)
        reply.turn_id = ids[-1]
        ended, reason = outcome(reply)
        await run_in_threadpool(record_outcome, context.store, session_id, reply.turn_id,
                                asked["content"], ended, reason, reply.vetted_id)


def _resume(context: ShopContext, caller: Caller,
            request: ChatRequest) -> tuple[str, ChatRequest, Asker]:
    found = load_session(context.store, request.session_id) if request.session_id else None
    if found is None:
        ttl = timedelta(hours=context.settings.session_ttl_hours)
        created = create_session(context.store, caller, ttl)
        return created["session_id"], request.model_copy(update={"session_id": None}), Asker()
    history = [ChatTurn(role=turn["role"], content=turn["content"][:TURN_CHARS])
               for turn in found["turns"]
               if turn.get("role") in ("user", "assistant") and turn.get("content")]
    # orders this session's own answers were about (stored by the server, never the client's)
    proved = [order_id for turn in found["turns"] if turn.get("role") == "assistant"
              for order_id in turn.get("order_ids") or []]
    asker = Asker(customer_id=found["customer_id"], order_ids=tuple(dict.fromkeys(proved)))
    return found["session_id"], request.model_copy(
        update={"history": history[-HISTORY_TURNS:], "session_id": None}), asker
