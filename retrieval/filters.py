"""Search filters, one pydantic model shared by the API, the CLI and the studio.

Products that do not carry an attribute pass its filter: a product that states no locale is
sold everywhere, one with no colour, size or audience stated might be any (we keep it rather
than hide it). A product that states them is judged by what it states:

- `audience` ("men", "women", "kids"; synonyms are mapped): "unisex" products pass an adult
  audience, never "kids" (unisex gear in a shop that sells kids' sizes is adult-sized).
- `color` is a word test: "green" keeps "forest green"; "grey" and "gray" are the same word.
- `size` keeps products listing that size, a numeric range holding it ("39-42" for 42), a
  combined size holding it ("S/M" for M), or "one size".
- `brand` is an exact (case-insensitive) match; a product with no brand fails it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shop.errors import InvalidInput

AUDIENCE_SYNONYMS = {
    "kids": ("kid", "kids", "child", "children", "childrens", "junior", "juniors", "youth",
             "boy", "boys", "girl", "girls", "toddler", "toddlers", "baby", "babies", "infant"),
    "women": ("women", "womens", "woman", "ladies", "lady", "female", "females"),
    "men": ("men", "mens", "man", "male", "males", "gents", "gentlemen"),
    "unisex": ("unisex", "all", "any", "everyone", "adult", "adults"),
}
_AUDIENCE = {word: name for name, words in AUDIENCE_SYNONYMS.items() for word in words}
_SIZE_WORDS = {"extra small": "XS", "x-small": "XS", "small": "S", "medium": "M", "large": "L",
               "extra large": "XL", "x-large": "XL", "xx-large": "XXL", "2xl": "XXL",
               "3xl": "XXXL", "one size": "ONE SIZE", "onesize": "ONE SIZE"}


def canonical_audience(value: Any) -> str | None:
    """'Women's' -> 'women', 'Girls' -> 'kids'; unknown words are kept, lower-cased."""
    if value is None or not str(value).strip():
        return None
    word = re.sub(r"['’]s?$|\W+$", "", str(value).strip().lower())
    return _AUDIENCE.get(word, word)


def canonical_color(value: Any) -> str:
    return " ".join(re.sub(r"\bgray\b", "grey", str(value).lower()).replace("-", " ").split())


def canonical_size(value: Any) -> str:
    text = " ".join(str(value).strip().lower().split())
    return _SIZE_WORDS.get(text, text.upper())


def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def size_fits(size: str, offered: list[str]) -> bool:
    """Whether a product offering `offered` sizes has `size` (both canonical)."""
    number = float(size) if re.fullmatch(r"\d+(\.\d+)?", size) else None
    for item in offered:
        if item in (size, "ONE SIZE") or size in item.split("/"):
            return True
        bounds = re.fullmatch(r"(\d+(?:\.\d+)?)\s*[-–]\s*(\d+(?:\.\d+)?)", item)
        if number is not None and bounds and float(bounds[1]) <= number <= float(bounds[2]):
            return True
    return False


class SearchFilters(BaseModel):
    """Product filters. `locale` keeps products whose attributes name that locale (`locale` or
    `locales`); products that name none are sold everywhere and always pass. See the module
    docstring for audience, color, size and brand."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str | None = Field(default=None, min_length=1)
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    in_stock: bool = False
    locale: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    audience: str | None = Field(default=None, min_length=1)
    color: str | None = Field(default=None, min_length=1)
    size: str | None = Field(default=None, min_length=1)
    brand: str | None = Field(default=None, min_length=1)

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str | None) -> str | None:
        return canonical_audience(value)

    @field_validator("color")
    @classmethod
    def _color(cls, value: str | None) -> str | None:
        return canonical_color(value) if value else value

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        return canonical_size(value) if value else value

    @model_validator(mode="after")
    def _range(self) -> SearchFilters:
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
        return self._accepts_attributes(metadata)

    def _accepts_attributes(self, metadata: dict[str, Any]) -> bool:
        if self.brand and str(metadata.get("brand") or "").lower() != self.brand.lower():
            return False
        audience = canonical_audience(metadata.get("audience"))
        if self.audience and audience and audience != self.audience and not (
                audience == "unisex" and self.audience != "kids"):
            return False
        colors = [canonical_color(c) for c in _values(metadata.get("colors"))]
        if self.color and colors and not any(
                re.search(rf"\b{re.escape(self.color)}\b", c) for c in colors):
            return False
        sizes = [canonical_size(s) for s in _values(metadata.get("sizes"))]
        return not (self.size and sizes and not size_fits(self.size, sizes))


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
