"""The campaign file: YAML, validated by pydantic; an error names the field and its line.

    name: autumn-hiking            # unique; the job's identity
    channel: email
    audience: {all: true}          # or {segment: 3}, {customer_ids: [...]}, {filter: {locale: de}}
    #   or {scores: {churn_risk: ">0.6"}} (predicted value, shop/value_tables.py; may be
    #   combined with filter), or {product: {id: P0053, count: 500}}: the 500 customers most
    #   likely to buy P0053 who have not bought it
    products: {strategy: recommended, count: 3}   # or {product_ids: [P0053, P0054]}
    template: email                # a prompt in prompts/
    discount: {code: AUTUMN10, percent: 10, ends: 2026-12-31}   # optional: one shared code
    # or, instead of `discount`, a personal code per recipient (campaigns/offers.py):
    # offer: {kind: percent, value: 15, expires_days: 14, share: 0.8}
    #   kind percent | amount (in the shop's currency) | free_shipping (no value); `share` of
    #   the audience, drawn at random (seeded), get it, the rest the same email without it
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shop.errors import InvalidInput

# customer columns an audience filter may test (consent is always applied, never filtered on)
FILTER_FIELDS = ("locale", "first_name", "email")
# predicted-value columns an audience may test (customer_scores), and how
SCORE_FIELDS = ("p_purchase", "expected_orders", "expected_spend", "churn_risk")
SCORE_CONDITION = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d*)?|-?\.\d+)\s*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductBuyers(Strict):
    """The `count` customers most likely to buy product `id`, those who bought it left out."""

    id: str = Field(min_length=1, max_length=64)
    count: int = Field(ge=1, le=1_000_000)


def score_condition(field: str, text: str) -> tuple[str, float]:
    """'>0.6' -> ('>', 0.6); an error names the field."""
    if field not in SCORE_FIELDS:
        raise ValueError(f"scores on {field} is not supported; use {', '.join(SCORE_FIELDS)}")
    match = SCORE_CONDITION.match(str(text))
    if match is None:
        raise ValueError(f"{field}: {text!r} is not a condition such as '>0.6' or "
                         "'<=2' (operators > >= < <=, then a number)")
    return match[1], float(match[2])


class Audience(Strict):
    """Exactly one way of choosing who gets the campaign; `scores` may narrow a `filter`
    (both must hold), the one combination allowed."""

    all: bool | None = None
    segment: int | None = Field(default=None, ge=0)
    customer_ids: list[str] | None = Field(default=None, min_length=1)
    filter: dict[str, str] | None = Field(default=None, min_length=1)
    scores: dict[str, str] | None = Field(default=None, min_length=1)  # field -> ">0.6"
    product: ProductBuyers | None = None

    @field_validator("scores", mode="before")
    @classmethod
    def _check_scores(cls, value):
        if isinstance(value, dict):  # YAML reads `<0.2` as a string and `0.2` as a number
            value = {str(k): str(v) for k, v in value.items()}
            for field, text in value.items():
                score_condition(field, text)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Audience:
        chosen = [k for k in ("all", "segment", "customer_ids", "filter", "scores", "product")
                  if getattr(self, k) not in (None, False)]
        if len(chosen) != 1 and set(chosen) != {"filter", "scores"}:
            raise ValueError("give exactly one of all: true, segment: N, customer_ids: [...], "
                             "filter: {...}, scores: {...} (filter and scores may go together) "
                             f"or product: {{id, count}} (got {', '.join(chosen) or 'none'})")
        unknown = sorted(set(self.filter or {}) - set(FILTER_FIELDS))
        if unknown:
            raise ValueError(f"filter on {', '.join(unknown)} is not supported; "
                             f"use {', '.join(FILTER_FIELDS)}")
        return self

    def score_conditions(self) -> list[tuple[str, str, float]]:
        """(field, operator, number) for each of `scores`."""
        return [(field, *score_condition(field, text))
                for field, text in (self.scores or {}).items()]


class Products(Strict):
    strategy: Literal["recommended", "fixed"] = "recommended"
    count: int = Field(default=3, ge=2, le=4)
    product_ids: list[str] | None = Field(default=None, min_length=2, max_length=4)

    @model_validator(mode="after")
    def _fixed_needs_ids(self) -> Products:
        if self.product_ids:
            self.strategy = "fixed"
        elif self.strategy == "fixed":
            raise ValueError("strategy fixed needs product_ids: [...]")
        return self


class Discount(Strict):
    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
    percent: float = Field(gt=0, le=90)
    ends: date | None = None


class Offer(Strict):
    """A personal offer: each recipient drawn into the `offer` arm gets their own code."""

    kind: Literal["percent", "amount", "free_shipping"]
    value: float = Field(default=0.0, ge=0)  # percent, or an amount in the shop's currency
    unique_codes: bool = True  # False: one code for the whole campaign, shared
    expires_days: int = Field(default=14, ge=1, le=365)
    budget: float | None = Field(default=None, gt=0)  # the most discount cost the shop accepts
    share: float = Field(default=1.0, gt=0, le=1)  # of the audience that gets the offer
    # a plan from `shopwright offers plan --out FILE` (one customer id per line): those get
    # the offer, everyone else only with probability `explore` (share is then unused), so the
    # next plan still has randomised rows to learn from
    plan: Path | None = None
    explore: float = Field(default=0.1, ge=0, le=0.5)

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Offer:
        if self.kind == "percent" and not 0 < self.value <= 90:
            raise ValueError("a percent offer needs value: more than 0, at most 90")
        if self.kind == "amount" and self.value <= 0:
            raise ValueError("an amount offer needs value: the amount off, more than 0")
        if self.kind == "free_shipping":
            self.value = 0.0  # nothing to state: the shipping is free
        return self


class CampaignSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    channel: Literal["email"] = "email"
    audience: Audience
    products: Products = Field(default_factory=Products)
    template: str = "email"
    discount: Discount | None = None
    offer: Offer | None = None
    candidates: int = Field(default=3, ge=1, le=8)  # drafts per email, best kept
    seed: int = 0

    @model_validator(mode="after")
    def _one_kind_of_offer(self) -> CampaignSpec:
        if self.discount is not None and self.offer is not None:
            raise ValueError("give either discount: (one code shared by everyone) or offer: "
                             "(a personal code per recipient), not both")
        return self

    def digest(self) -> str:
        """What makes two runs the same job (a changed file under the same name is refused)."""
        data = self.model_dump(mode="json")
        if data.get("offer") is None:  # added later: a file without one hashes as it did
            data.pop("offer", None)
        for key in ("scores", "product"):  # added later too
            if data["audience"].get(key) is None:
                data["audience"].pop(key, None)
        payload = json.dumps(data, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def parse_campaign(text: str, source: str = "campaign file") -> CampaignSpec:
    import yaml

    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"{source}{where}: not valid YAML: "
                           f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: expected a mapping with name, audience, ... at the top")
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = [part for part in error["loc"] if not str(part).startswith("function-")]
            field = ".".join(str(part) for part in loc) or "(file)"
            line = _line_of(root, loc)
            message = re.sub(r"^Value error, ", "", error["msg"])
            lines.append(f"{source} line {line}: {field}: {message}")
        raise InvalidInput("\n".join(lines)) from None


def load_campaign_file(path: Path) -> CampaignSpec:
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no campaign file at {path}")
    return parse_campaign(path.read_text(encoding="utf-8"), str(path))


def _line_of(node: Any, loc: list) -> int:
    """The 1-based line of the deepest YAML node on `loc` (a missing key: its parent's)."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
