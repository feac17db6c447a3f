"""Search filters, one pydantic model shared by the API, the CLI and the studio."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shop.errors import InvalidInput


class SearchFilters(BaseModel):
    """Product filters. `locale` keeps products whose attributes name that locale (`locale` or
    `locales`); products that name none are sold everywhere and always pass."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str | None = Field(default=None, min_length=1)
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    in_stock: bool = False
    locale: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")

    @model_validator(mode="after")
    def _range(self) -> "SearchFilters":
        if self.min_price is not None and self.max_price is not None \
                and self.min_price > self.max_price:
            raise ValueError(f"min_price {self.min_price} is above max_price {self.max_price}")
        return self

    @property
    def active(self) -> bool:
        return self != SearchFilters()

    def accepts(self, metadata: dict[str, Any]) -> bool:
        if self.category and str(metadata.get("category", "")).lower() != self.category.lower():
            return False
        price = metadata.get("price")
        if self.min_price is not None and (price is None or price < self.min_price):
            return False
        if self.max_price is not None and (price is None or price > self.max_price):
            return False
        if self.in_stock and not metadata.get("stock", 0) > 0:
            return False
        locales = metadata.get("locales") or []
        if self.locale and locales and not any(
                loc == self.locale or loc.split("-")[0] == self.locale.split("-")[0]
                for loc in locales):
            return False
        return True


def parse_filters(values: SearchFilters | dict[str, Any] | None) -> SearchFilters:
    """Validate a filter dict; unknown fields are rejected with the list of valid ones."""
    if values is None:
        return SearchFilters()
    if isinstance(values, SearchFilters):
        return values
    unknown = sorted(set(values) - set(SearchFilters.model_fields))
    if unknown:
        raise InvalidInput(f"unknown filter field(s): {', '.join(unknown)}; "
                           f"valid filters are: {', '.join(SearchFilters.model_fields)}")
    try:
        return SearchFilters.model_validate(values)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'filters'}: {e['msg']}"
                            for e in exc.errors())
        raise InvalidInput(f"bad filters: {reasons}") from None
