"""Reviewing stored ad copy (gen/tasks/copy_review.py), what the studio's Copy cards call: fast, on
a fresh store with rows written as GenService.copy writes them."""

from __future__ import annotations

import csv
import io
import json

import pytest

from gen.prompts import default_library
from gen.tasks.content import record
from gen.tasks.copy_review import (
    copy_rows,
    export_csv,
    export_json,
    fields_from_text,
    fields_text,
    review,
)
from shop.errors import InvalidInput, NotFound


@pytest.fixture
def copy_ids(store) -> list[int]:
    outputs = [{"fields": {"headline": f"Stay dry {n}", "description": "Packs small."},
                "source": "model", "problems": [], "channel": "search"} for n in range(2)]
    return record(store, "copy", default_library().get("ad_copy"), "tiny-model",
                  {"product": "P0001"}, outputs, product_id="P0001")


def test_fields_round_trip_through_the_card_text():
    fields = {"headline": "Stay dry: all day", "description": "Packs small."}
    assert fields_from_text(fields_text(fields), list(fields)) == fields
    assert fields_from_text("Sale: 20% off today", ["text"]) == {"text": "Sale: 20% off today"}
    with pytest.raises(InvalidInput, match="needs a line for description"):
        fields_from_text("headline: only this", list(fields))
    with pytest.raises(InvalidInput, match="start each line with one of"):
        fields_from_text("headline: a\nbody: b", list(fields))


def test_an_edit_is_kept_beside_the_model_text_and_exported_as_shipped(store, copy_ids):
    first, second = copy_ids
    row = review(store, first, "key:1:maria", status="approved",
                 text="headline: Rain? Fine.\ndescription: Packs small.")
    assert row["status"] == "approved" and row["edited"]
    assert row["fields"] == {"headline": "Rain? Fine.", "description": "Packs small."}
    assert row["prompt"].startswith("ad_copy@") and row["model"] == "tiny-model"
    assert review(store, first, "key:1:maria", rating=-1)["rating"] == -1
    assert review(store, first, "key:1:maria", rating=0)["rating"] == 0
    review(store, second, "key:1:maria", status="discarded")

    approved = copy_rows(store, status="approved")
    assert [r["content_id"] for r in approved] == [first]
    lines = list(csv.DictReader(io.StringIO(export_csv(approved))))
    assert [(r["field"], r["text"], r["edited"]) for r in lines] == [
        ("headline", "Rain? Fine.", "True"), ("description", "Packs small.", "True")]
    assert json.loads(export_json(approved))[0]["model"] == "tiny-model"
    # the same text as the model's is not an edit
    unedited = review(store, first, "key:1:maria", text="headline: Stay dry 0\n"
                                                          "description: Packs small.")
    assert not unedited["edited"] and unedited["status"] == "approved"
    assert [r["content_id"] for r in copy_rows(store, [second, first])] == [second, first]


def test_review_refuses_unknown_rows_and_ratings(store, copy_ids):
    with pytest.raises(NotFound):
        review(store, 10**6, "key:1:maria", status="approved")
    with pytest.raises(InvalidInput, match="rating is"):
        review(store, copy_ids[0], "key:1:maria", rating=5)
