"""/v1/campaigns/{id}/offers: what a campaign's personal offer did. Admin only.

Codes issued and redeemed, the revenue of the orders that redeemed one and what the codes took
off, the uses flagged and not counted, and the arms (campaigns/offers.py `campaign_offers`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from campaigns.offers import campaign_offers
from ui.api.deps import Admin, Context
from ui.api.errors import errors

router = APIRouter(prefix="/v1", tags=["campaigns"], dependencies=[Admin])

CampaignId = Annotated[str, Path(min_length=1, max_length=64)]


class Flagged(BaseModel):
    reused: int = Field(description="A code already counted on another order")
    other_customer: int = Field(description="A code used by someone it was not given to")
    expired: int = Field(description="An order placed after the code expired")


class Arms(BaseModel):
    offer: int
    no_offer: int = Field(description="The same email without the offer")
    control: int = Field(description="Held out: no email at all")


class OffersReport(BaseModel):
    campaign_id: str
    offer: dict[str, Any] | None = Field(description="The campaign file's offer")
    shared_code: bool
    issued: int = Field(description="Codes issued (a shared code: recipients offered it)")
    redeemed: int = Field(description="Codes counted on an order")
    redemption_rate: float | None
    revenue: float = Field(description="Totals of the orders that redeemed a code")
    discount_cost: float = Field(description="What the codes took off those orders")
    currency: str | None
    flagged: Flagged = Field(description="Uses recorded and not counted, by reason")
    arms: Arms


@router.get("/campaigns/{campaign_id}/offers", responses=errors(401, 403, 404, 422))
def offers(campaign_id: CampaignId, context: Context) -> OffersReport:
    """Issued and redeemed codes, redemption rate, revenue, discount cost, flagged uses and
    arm sizes of one campaign (404: no such campaign)."""
    return OffersReport.model_validate(campaign_offers(context.store, campaign_id))
