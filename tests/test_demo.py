"""The demo shop generator: deterministic, the promised sizes, and behaviour with real signal."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from datetime import datetime

from shop.demo import generate_demo, summarize


def _rows(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _digest(paths) -> dict[str, str]:
    return {key: hashlib.sha256(paths[key].read_bytes()).hexdigest()
            for key in ("catalog", "customers", "events")}


def test_same_seed_same_bytes_other_seed_other_shop(demo_files, tmp_path):
    again = generate_demo(tmp_path / "again", seed=7)
    assert _digest(again) == _digest(demo_files)
    other = generate_demo(tmp_path / "other", seed=8)
    assert _digest(other)["events"] != _digest(demo_files)["events"]


def test_sizes_and_shape_of_the_demo_shop(demo_files):
    products, customers = _rows(demo_files["catalog"]), _rows(demo_files["customers"])
    events = _rows(demo_files["events"])
    assert len(products) >= 400 and len({p["category"] for p in products}) >= 10
    assert all(len(p["description"].split(". ")) >= 2 for p in products)  # multi-sentence
    assert len(customers) == 2000 and len(events) == 50_000
    assert len(list(demo_files["kb"].glob("*.md"))) == 30
    times = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert (max(times) - min(times)).days >= 175  # six months
    kinds = Counter(e["type"] for e in events)
    assert kinds["view"] > kinds["add_to_cart"] > kinds["purchase"] > 0 and kinds["search"] > 0
    assert "view->cart" in summarize(demo_files)


def test_customers_have_category_affinity(demo_files):
    """A customer's purchases and views concentrate in a few categories: recommenders need it."""
    category = {p["id"]: p["category"] for p in _rows(demo_files["catalog"])}
    per_customer: dict[str, Counter] = {}
    for event in _rows(demo_files["events"]):
        if event["product_id"]:
            per_customer.setdefault(event["customer_id"], Counter())[category[event["product_id"]]] += 1
    active = [counts for counts in per_customer.values() if counts.total() >= 20]
    top3_share = sum(sum(n for _, n in c.most_common(3)) / c.total() for c in active) / len(active)
    n_categories = len(set(category.values()))
    assert len(active) > 100
    assert top3_share > 2 * 3 / n_categories  # far above what uniform browsing would give
