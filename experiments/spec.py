"""Typed inputs shared by the API, the CLI and the studio (pydantic, extra fields refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
MAX_VARIANTS = 10  # with the largest propensity floor (0.1) ten variants still sum to 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantSpec(Strict):
    key: str = Field(pattern=KEY_PATTERN)
    content_id: int | None = Field(default=None, ge=1, le=2**31 - 1)  # a generated_content row
    text: str | None = Field(default=None, min_length=1, max_length=10_000)


class ExperimentSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,99}$")  # a letter first: ids are numbers
    policy: Literal["ab", "thompson"]
    variants: list[VariantSpec] = Field(min_length=2, max_length=MAX_VARIANTS)
    control: str | None = Field(default=None, pattern=KEY_PATTERN)  # default: the first
    per_segment: bool = False

    @model_validator(mode="after")
    def _keys(self) -> ExperimentSpec:
        keys = [v.key for v in self.variants]
        if len(set(keys)) != len(keys):
            raise ValueError(f"variant keys must differ (got {', '.join(keys)})")
        if self.control is None:
            self.control = keys[0]
        elif self.control not in keys:
            raise ValueError(f"control {self.control!r} is not one of the variants "
                             f"({', '.join(keys)})")
        return self


class FeedbackEvent(Strict):
    experiment_id: int = Field(ge=1)
    customer_id: str = Field(min_length=1, max_length=64)
    variant: str = Field(pattern=KEY_PATTERN)
    event: Literal["impression", "click", "conversion"]
