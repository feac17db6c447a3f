"""/v1/orders and /v1/order-requests: the shop's backend pushes orders, its team reads and
settles what shoppers asked for in the chat. Admin only: a widget key never reads an order
here (the chat's order desk decides what a shopper may see; gen/tasks/orders.py).

    POST  /v1/orders                      a list of orders, upserted by id (all or none)
    GET   /v1/orders/{id}                 one order as stored
    GET   /v1/customers/{id}/orders       a customer's orders, newest first
    GET   /v1/order-requests?state=open   cancel and return requests from the chat
    PATCH /v1/order-requests/{id}         the team's decision: done | declined | open
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from shop.errors import NotFound
from shop.orders import get_order, order_requests, orders_of, set_request_state, upsert_orders
from shop.records import OrderRecord
from shop.schema import Customer
from shop.support_tables import ORDER_REQUEST_STATES
from ui.api.deps import AdminCaller, Context
from ui.api.errors import errors

router = APIRouter(prefix="/v1", tags=["orders"])


class OrdersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    orders: list[OrderRecord] = Field(min_length=1, max_length=1000)


class OrdersWritten(BaseModel):
    written: int
    ids: list[str]


class RequestState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal[ORDER_REQUEST_STATES]  # type: ignore[valid-type]


@router.post("/orders", responses=errors(400, 401, 403, 404, 413, 422))
async def push_orders(body: OrdersIn, context: Context, caller: AdminCaller) -> OrdersWritten:
    """Create or replace orders (the same fields as `shopwright ingest orders`). Every
    customer and product must be known; one unknown reference writes nothing (404)."""
    ids = await run_in_threadpool(upsert_orders, context.store, body.orders)
    return OrdersWritten(written=len(ids), ids=ids)


@router.get("/orders/{order_id}", responses=errors(401, 403, 404))
def read_order(order_id: str, context: Context, caller: AdminCaller) -> dict[str, Any]:
    return get_order(context.store, order_id).as_dict()


@router.get("/customers/{customer_id}/orders", responses=errors(401, 403, 404))
def customer_orders(customer_id: str, context: Context, caller: AdminCaller,
                    limit: int = Query(20, ge=1, le=200)) -> list[dict[str, Any]]:
    with context.store.session() as session:
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"no customer {customer_id!r}")
    return [order.as_dict() for order in orders_of(context.store, customer_id, limit)]


@router.get("/order-requests", responses=errors(401, 403, 422))
def list_requests(context: Context, caller: AdminCaller,
                  state: Literal[ORDER_REQUEST_STATES] | None = None,  # type: ignore[valid-type]
                  customer_id: str | None = None) -> list[dict[str, Any]]:
    """Cancel and return requests shoppers made in the chat, newest first."""
    return order_requests(context.store, state, customer_id)


@router.patch("/order-requests/{request_id}", responses=errors(400, 401, 403, 404, 413, 422))
def settle_request(body: RequestState, context: Context, caller: AdminCaller,
                   request_id: int = Path(ge=1, le=2**31 - 1)) -> dict[str, Any]:
    return set_request_state(context.store, request_id, body.state)
