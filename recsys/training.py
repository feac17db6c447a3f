"""Fit a model (chosen by evaluation unless named) and save it as a self-contained folder.

A model folder holds: `served.json` (which model, why, its evaluation), `model/` (the
recommender's config and arrays), `data.npz` (the ids and the training matrix, so seen items
can be excluded and users folded in), and `segments.json` when the items have categories.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from recsys.evaluate import EvaluationOptions, evaluate
from recsys.exposure import exposure_shares
from recsys.holdout import recommend_all
from recsys.interactions import (
    EventLog,
    InteractionOptions,
    Interactions,
    ItemTable,
    build_interactions,
)
from recsys.models.base import Recommender, create_model, user_rows
from recsys.models.content import ensure_embeddings
from recsys.segments import Segmentation, SegmentOptions, build_segments
from recsys.tuning import reweight
from shop.errors import NotFound

AUTO = "auto"


@dataclass
class Bundle:
    model: Recommender
    data: Interactions
    meta: dict
    segmentation: dict | None = None
    buy_again: Recommender | None = None  # the customer's own reorders, as their own list
    exposure: np.ndarray | None = None  # (n_items,) how much the model shows each item, [0, 1]

    @property
    def repeats(self) -> bool:
        """Whether the evaluation found that customers here reorder (then recommendations
        may hold what they bought, and it measured better that way)."""
        return bool(self.meta.get("evaluation", {}).get("repeats", False))


def train(log: EventLog, items: ItemTable | None = None, model_name: str = AUTO,
          interaction_options: InteractionOptions | None = None,
          evaluation: EvaluationOptions | None = None, encoder=None, progress: bool = True,
          user_ids: np.ndarray | None = None) -> Bundle:
    """With `model_name="auto"`, evaluate every model on a temporal split and serve the best
    by NDCG@k; then fit that model on all the data."""
    interaction_options = interaction_options or InteractionOptions()
    if items is not None and encoder is not None and model_name in ("content", "hybrid"):
        ensure_embeddings(items, encoder)  # in auto mode the evaluation does it when useful
    meta: dict = {}
    model_options = evaluation.model_options.get(model_name) if evaluation else None
    if model_name == AUTO:
        evaluation = evaluation or EvaluationOptions()
        result = evaluate(log, items, evaluation, interaction_options, encoder, progress)
        model_name = result.best()
        chosen = result.score_of(model_name).tuned
        model_options = evaluation.model_options.get(model_name)
        if chosen is not None:  # the settings it won with, chosen on the validation split
            model_options, interaction_options = chosen.options, chosen.interactions
            log = reweight(log, interaction_options.event_weights)
        meta.update(selected_by=f"ndcg@{result.k}", evaluation=result.as_dict())
    else:
        meta.update(selected_by="named")
    meta["interaction_options"] = interaction_options.model_dump(mode="json")
    data = build_interactions(log, interaction_options, items=items, user_ids=user_ids)
    segmentation = None
    if data.items is not None and data.items.categories is not None and data.n_users:
        seg = build_segments(data, log, SegmentOptions())
        data = data.with_segments(seg.labels)
        segmentation = seg.as_dict()
    model = create_model(model_name, model_options, encoder=encoder)
    started = time.perf_counter()
    model.fit(data)
    meta.update(model=model_name, fit_seconds=round(time.perf_counter() - started, 3),
                trained_at=time.time(), users=data.n_users, items=data.n_items,
                interactions=int(data.matrix.nnz))
    buy_again = create_model("repeat").fit(data) if data.n_users else None
    repeats = bool(meta.get("evaluation", {}).get("repeats", False))
    return Bundle(model, data, meta, segmentation, buy_again,
                  measure_exposure(model, data, exclude_seen=not repeats))


def measure_exposure(model: Recommender, data: Interactions, k: int = 10,
                     sample: int = 2000, seed: int = 0, exclude_seen: bool = True) -> np.ndarray:
    """The fitted model's own exposure per item over (a sample of) its customers' top k:
    what the serving knob `exposure_penalty` pushes down."""
    active = np.flatnonzero(np.diff(data.matrix.indptr) > 0)
    if len(active) > sample:
        active = np.sort(np.random.default_rng(seed).choice(active, sample, replace=False))
    ids = recommend_all(model, active, user_rows(data, active), k, exclude_seen=exclude_seen) \
        if len(active) else np.zeros((0, k), dtype=np.int64)
    return exposure_shares(ids, data.n_items).astype(np.float32)


def save_bundle(bundle: Bundle, directory: Path) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    bundle.model.save(directory / "model")
    if bundle.buy_again is not None:
        bundle.buy_again.save(directory / "buy_again")
    data = bundle.data
    arrays = {"user_ids": data.user_ids.astype(str), "item_ids": data.item_ids.astype(str),
              "reference_time": np.asarray(data.reference_time)}
    sparse.save_npz(directory / "matrix.npz", data.matrix)
    if data.purchases is not None:
        sparse.save_npz(directory / "purchases.npz", data.purchases)
    if data.user_segments is not None:
        arrays["user_segments"] = data.user_segments
    if bundle.exposure is not None:
        arrays["exposure"] = bundle.exposure
    items = data.items
    if items is not None:
        arrays["titles"] = np.asarray(items.titles, dtype=str)
        arrays["texts"] = np.asarray(items.texts, dtype=str)
        for name in ("categories", "prices", "in_stock", "embeddings"):
            value = getattr(items, name)
            if value is not None:
                arrays[name] = value.astype(str) if name == "categories" else value
    np.savez(directory / "data.npz", **arrays)
    if bundle.segmentation is not None:
        (directory / "segments.json").write_text(json.dumps(bundle.segmentation, indent=1))
    (directory / "served.json").write_text(json.dumps(bundle.meta, indent=2))


def load_bundle(directory: Path) -> Bundle:
    directory = Path(directory)
    if not (directory / "served.json").is_file():
        raise NotFound(f"{directory}: no trained model here; run `shopwright recsys train` "
                       "or `shopwright recsys retrain` first")
    meta = json.loads((directory / "served.json").read_text())
    model = Recommender.load(directory / "model")
    with np.load(directory / "data.npz") as arrays:
        a = {key: arrays[key] for key in arrays.files}
    items = None
    if "titles" in a:
        items = ItemTable(ids=a["item_ids"].astype(object), titles=list(a["titles"]),
                          texts=list(a["texts"]),
                          categories=a["categories"].astype(object) if "categories" in a else None,
                          prices=a.get("prices"), in_stock=a.get("in_stock"),
                          embeddings=a.get("embeddings"))
    purchases_path = directory / "purchases.npz"
    data = Interactions(
        user_ids=a["user_ids"].astype(object), item_ids=a["item_ids"].astype(object),
        matrix=sparse.load_npz(directory / "matrix.npz").tocsr(),
        purchases=sparse.load_npz(purchases_path).tocsr() if purchases_path.is_file() else None,
        items=items, user_segments=a.get("user_segments"),
        reference_time=float(a["reference_time"]),
        options=InteractionOptions(**meta.get("interaction_options", {})))
    segments_path = directory / "segments.json"
    segmentation = json.loads(segments_path.read_text()) if segments_path.is_file() else None
    buy_again = (Recommender.load(directory / "buy_again")
                 if (directory / "buy_again" / "config.json").is_file() else None)
    return Bundle(model, data, meta, segmentation, buy_again, a.get("exposure"))


def segmentation_rows(segmentation: dict) -> list[list]:
    """The segments as table rows: id, size, top categories, price band, activity, description."""
    rows = []
    for s in segmentation["segments"]:
        top = ", ".join(f"{name} {share:.0%}" for name, share in s["top_categories"]) or "mixed"
        rows.append([s["id"], s["size"], top, s["price_band"], s["activity"], s["description"]])
    return rows


SEGMENT_HEADERS = ["segment", "size", "top categories", "price band", "activity", "description"]

__all__ = [
    "AUTO",
    "SEGMENT_HEADERS",
    "Bundle",
    "Segmentation",
    "load_bundle",
    "save_bundle",
    "segmentation_rows",
    "train",
]
