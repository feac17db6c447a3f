"""The campaign file: YAML, validated by pydantic; an error names the field and its line.

    name: autumn-hiking            # unique; the job's identity
    channel: email
    audience: {all: true}          # or {segment: 3}, {customer_ids: [...]}, {filter: {locale: de}}
    products: {strategy: recommended, count: 3}   # or {product_ids: [P0053, P0054]}
    template: email                # a prompt in prompts/
    discount: {code: AUTUMN10, percent: 10, ends: 2026-12-31}   # optional
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shop.errors import InvalidInput

# customer columns an audience filter may test (consent is always applied, never filtered on)
FILTER_FIELDS = ("locale", "first_name", "email")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Audience(Strict):
    """Exactly one way of choosing who gets the campaign."""

    all: bool | None = None
    segment: int | None = Field(default=None, ge=0)
    customer_ids: list[str] | None = Field(default=None, min_length=1)
    filter: dict[str, str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Audience:
        chosen = [k for k in ("all", "segment", "customer_ids", "filter")
                  if getattr(self, k) not in (None, False)]
        if len(chosen) != 1:
            raise ValueError("give exactly one of all: true, segment: N, customer_ids: [...] "
                             f"or filter: {{...}} (got {', '.join(chosen) or 'none'})")
        unknown = sorted(set(self.filter or {}) - set(FILTER_FIELDS))
        if unknown:
            raise ValueError(f"filter on {', '.join(unknown)} is not supported; "
                             f"use {', '.join(FILTER_FIELDS)}")
        return self


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


class CampaignSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    channel: Literal["email"] = "email"
    audience: Audience
    products: Products = Field(default_factory=Products)
    template: str = "email"
    discount: Discount | None = None
    candidates: int = Field(default=3, ge=1, le=8)  # drafts per email, best kept
    seed: int = 0

    def digest(self) -> str:
        """What makes two runs the same job (a changed file under the same name is refused)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
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
