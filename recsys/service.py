"""The recommender service over the shop's store: serve, take events in real time, retrain.

It loads the persisted served model from `data_dir/recsys` (or trains one on first use). New
events are written to the store, then folded into the customer's current row; that customer's
vector is recomputed from the row at their next request, so no retraining is needed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import sparse
from sqlalchemy import select

from recsys.contributions import explain_items
from recsys.interactions import InteractionOptions, build_interactions, decay
from recsys.models.base import user_rows
from recsys.models.content import minilm_encoder
from recsys.reasons import Explainer, detail, event_matrix, phrase
from recsys.review_feedback import low_rated
from recsys.serving import ItemRules, ServeOptions, resolve_exclusions, serve, serve_many
from recsys.store_data import customer_ids, items_from_store, log_from_store
from recsys.training import AUTO, Bundle, load_bundle, save_bundle, train
from shop.errors import InvalidInput, NotFound, ShopwrightError
from shop.records import EventRecord
from shop.schema import Customer, Event, Product
from shop.store import Store
from shop.upsert import upsert

NONE = np.zeros(0, dtype=np.int64)


class _Person(NamedTuple):
    """What serving needs to know about one customer."""

    customer_id: str
    user: int  # row in the live matrix, -1 if unknown
    model_user: int  # row in the fitted model, -1 if not fitted
    row: sparse.csr_matrix
    purchased: np.ndarray
    viewed: np.ndarray | None  # None: the events carry no types, so views are unknown
    segment: int | None
    recalculate: bool  # new or changed since the fit: the vector is recomputed


class RecommenderService:
    def __init__(self, store: Store, settings, encoder=None, directory: Path | None = None,
                 product_vectors=None):
        self.store = store
        self.settings = settings
        # Outside self.directory, which save_bundle rewrites.
        self.encoder = encoder or minilm_encoder(settings,
                                                 cache_dir=settings.data_dir / "recsys-cache")
        # Optional ids -> unit vectors (the search index's), so the catalog is embedded once.
        self.product_vectors = product_vectors
        self.directory = Path(directory or settings.data_dir / "recsys")
        self._lock = threading.RLock()
        self._bundle: Bundle | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def retrain(self, model: str = AUTO, progress: bool = False) -> dict:
        """Full fit of the served model on the store's events (the periodic job)."""
        options = InteractionOptions()
        log = log_from_store(self.store, options)
        items = items_from_store(self.store)
        if self.product_vectors is not None and model in (AUTO, "content", "hybrid"):
            try:
                items.embeddings = np.asarray(self.product_vectors(list(items.ids)),
                                              dtype=np.float32)
            except ShopwrightError:
                items.embeddings = None  # not indexed yet: embed here instead
        bundle = train(log, items, model, options, encoder=self.encoder, progress=progress,
                       user_ids=np.union1d(customer_ids(self.store), np.unique(log.user_ids))
                       .astype(object))
        save_bundle(bundle, self.directory)
        with self._lock:
            self._attach(bundle)
        return bundle.meta

    def _ready(self) -> Bundle:
        with self._lock:
            if self._bundle is None:
                if (self.directory / "served.json").is_file():
                    self._attach(load_bundle(self.directory))
                else:
                    self.retrain()
            return self._bundle

    def invalidate(self) -> None:
        """Re-read the store's events at the next request (after an ingestion)."""
        with self._lock:
            if self._bundle is not None:
                self._attach(self._bundle)

    def _attach(self, bundle: Bundle) -> None:
        """Serve `bundle`, with the store's current events as each customer's row."""
        if hasattr(bundle.model, "use_encoder"):
            bundle.model.use_encoder(self.encoder)
        fitted = bundle.data
        # The fit's reference time keeps weights on the models' scale; newer events count fully.
        options = fitted.options.model_copy(update={"reference_time": datetime.fromtimestamp(
            fitted.reference_time, UTC)})
        log = log_from_store(self.store, options)
        new_users = np.setdiff1d(np.unique(log.user_ids).astype(str),
                                 fitted.user_ids.astype(str)).astype(object)
        live = build_interactions(log, options, items=fitted.items, item_ids=fitted.item_ids,
                                  user_ids=np.concatenate([fitted.user_ids, new_users]))
        live.user_segments = fitted.user_segments
        n_fit = fitted.n_users
        changed = (live.matrix[:n_fit] != fitted.matrix).tocsr()
        self._bundle = bundle
        self._live = live
        self._n_fit = n_fit
        # An id no longer in `customers` (erased) is not mapped: it serves as a cold start,
        # though the persisted fit keeps its row until the next retrain.
        known = set(customer_ids(self.store).tolist())
        self._users = {c: i for c, i in live.user_index.items() if c in known}
        self._next_user = live.n_users  # fold-in rows get fresh indices, past every fitted one
        if bundle.segmentation:
            bundle.segmentation["assignments"] = {
                c: s for c, s in bundle.segmentation.get("assignments", {}).items() if c in known}
        self._extra: dict[int, dict[int, float]] = {}
        self._extra_purchases: dict[int, set[int]] = {}
        self._views = event_matrix(log, live, "view")
        index = live.item_index
        self._low_rated = {customer: np.array(sorted(index[p] for p in products if p in index),
                                              dtype=np.int64)
                           for customer, products in low_rated(self.store).items()}
        self._extra_views: dict[int, set[int]] = {}
        self._dirty = set(np.flatnonzero(np.diff(changed.indptr) > 0).tolist())
        # Stock and prices change between fits; deleted products count as out of stock.
        self._rules = ItemRules(fitted.item_ids, items_from_store(self.store).align(
            fitted.item_ids), bundle.exposure)
        similarity = getattr(bundle.model.children().get("item_knn", bundle.model),
                             "similarity", None)
        content = bundle.model.children().get("content", bundle.model)
        embeddings = getattr(content, "embeddings", None)
        if embeddings is None or not len(embeddings):
            embeddings = fitted.items.embeddings if fitted.items is not None else None
        names = {s["id"]: s["description"].split(";")[0] for s in
                 (bundle.segmentation or {}).get("segments", [])}
        self._explainer = Explainer(live, similarity, embeddings, log, names)

    # ---- serving ---------------------------------------------------------------------------

    def _row(self, user: int) -> sparse.csr_matrix:
        n_items = self._live.n_items
        if user < 0:
            return sparse.csr_matrix((1, n_items), dtype=np.float32)
        row = user_rows(self._live, np.array([user])) if user < self._live.n_users else \
            sparse.csr_matrix((1, n_items), dtype=np.float32)
        extra = self._extra.get(user)
        if extra:
            cols = np.fromiter(extra.keys(), dtype=np.int64)
            vals = np.fromiter(extra.values(), dtype=np.float32)
            row = (row + sparse.csr_matrix((vals, (np.zeros_like(cols), cols)),
                                           shape=(1, n_items))).tocsr()
        return row

    def _purchased(self, user: int) -> np.ndarray:
        bought = set(self._extra_purchases.get(user, ()))
        if 0 <= user < self._live.n_users and self._live.purchases is not None:
            bought.update(self._live.purchases[user].indices.tolist())
        return np.fromiter(bought, dtype=np.int64, count=len(bought))

    def _viewed(self, user: int) -> np.ndarray | None:
        if self._views is None:
            return None
        seen = set(self._extra_views.get(user, ()))
        if 0 <= user < self._views.shape[0]:
            seen.update(self._views[user].indices.tolist())
        return np.fromiter(seen, dtype=np.int64, count=len(seen))

    def _person(self, customer_id: str) -> _Person:
        """A customer's serving state (call with the lock held)."""
        user = self._users.get(customer_id, -1)
        model_user = user if 0 <= user < self._n_fit else -1
        segment = (int(self._live.user_segments[user]) if self._live.user_segments is not None
                   and 0 <= user < len(self._live.user_segments) else None)
        return _Person(customer_id, user, model_user, self._row(user), self._purchased(user),
                       self._viewed(user), segment, model_user < 0 or user in self._dirty)

    def recommend(self, customer_id: str, options: ServeOptions | None = None) -> dict:
        bundle = self._ready()
        options = resolve_exclusions(options or ServeOptions(), bundle.repeats)
        with self._lock:
            person = self._person(customer_id)
        ranked = serve(bundle.model, self._rules, person.model_user, person.row, options,
                       person.purchased, recalculate_user=person.recalculate,
                       never=self._low_rated.get(customer_id))
        return self._answer(person, bundle, ranked, options)

    def recommend_many(self, customer_ids: list[str], options: ServeOptions | None = None,
                       chunk: int = 512) -> list[dict]:
        """`recommend` for a whole audience: one model call per chunk of customers (and per
        kind: fitted customers, and new or changed ones whose vectors are recomputed)."""
        bundle = self._ready()
        options = resolve_exclusions(options or ServeOptions(), bundle.repeats)
        if options.boost or options.bury:
            return [self.recommend(c, options) for c in customer_ids]
        answers: dict[str, dict] = {}
        for start in range(0, len(customer_ids), chunk):
            with self._lock:
                people = [self._person(c) for c in customer_ids[start:start + chunk]]
            for recalculate in (False, True):
                group = [p for p in people if p.recalculate == recalculate]
                if not group:
                    continue
                ranked = serve_many(bundle.model, self._rules,
                                    np.array([p.model_user for p in group], dtype=np.int64),
                                    sparse.vstack([p.row for p in group]).tocsr(), options,
                                    [p.purchased for p in group], recalculate_user=recalculate,
                                    never=[self._low_rated.get(p.customer_id, NONE)
                                           for p in group])
                for person, items in zip(group, ranked):
                    answers[person.customer_id] = (
                        self.recommend(person.customer_id, options) if items is None else
                        self._answer(person, bundle, items, options))
        return [answers[c] for c in customer_ids]

    def likely_buyers(self, product_id: str, count: int, chunk: int = 256) -> list[str]:
        """The `count` customers most likely to buy `product_id`, best first: the product's
        column of the served model's customer-by-item scores, every item ranked (a hybrid
        normalises each customer's scores over the items it ranks, so the item alone would
        score the same for all). Those who bought it or rated it poorly are left out, and so
        are customers the model cannot score (no history, for models that need one)."""
        bundle = self._ready()
        item = self._rules.index.get(product_id)
        if item is None:
            raise NotFound(f"product {product_id!r} is not in the served model (unknown, or "
                           "added since it was trained: `shopwright recsys retrain`)")
        n_items = len(self._rules.item_ids)
        with self._lock:
            people = [self._person(c) for c in sorted(self._users)]
        people = [p for p in people if item not in p.purchased
                  and item not in self._low_rated.get(p.customer_id, NONE)]
        scored: list[tuple[float, str]] = []
        for recalculate in (False, True):
            group = [p for p in people if p.recalculate == recalculate]
            for start in range(0, len(group), chunk):
                part = group[start:start + chunk]
                ids, scores = bundle.model.recommend(  # (len(part), n_items) each
                    np.array([p.model_user for p in part], dtype=np.int64),
                    sparse.vstack([p.row for p in part]).tocsr(), n_items,
                    exclude_seen=False, recalculate_user=recalculate)
                hit = ids == item
                score = scores[np.arange(len(part)), hit.argmax(axis=1)]
                scored += [(float(s), p.customer_id) for p, found, s
                           in zip(part, hit.any(axis=1), score) if found and np.isfinite(s)]
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        return [customer for _, customer in scored[:count]]

    def buy_again(self, customer_id: str, k: int = 10) -> dict:
        """What the customer bought before and is most likely to reorder now (their own
        rhythm against the item's), in stock only; empty for a customer who bought nothing."""
        bundle = self._ready()
        with self._lock:
            person = self._person(customer_id)
        options = ServeOptions(k=k, max_per_category=None)
        ranked: list = []
        if bundle.buy_again is not None and len(person.purchased):
            allowed = np.zeros(self._live.n_items, dtype=bool)
            allowed[person.purchased] = True
            allowed &= self._rules.mask(options)
            allowed[self._low_rated.get(customer_id, NONE)] = False
            ids, scores = bundle.buy_again.recommend(
                np.array([person.model_user]), person.row, k, allowed=allowed,
                recalculate_user=person.recalculate)
            ranked = [(int(i), float(s), False) for i, s in zip(ids[0], scores[0]) if i >= 0]
        answer = self._answer(person, bundle, ranked, options)
        answer["model"] = "repeat"
        return answer

    def _answer(self, person: _Person, bundle: Bundle, ranked: list, options: ServeOptions
                ) -> dict:
        items = self._live.items
        out = []
        parts = self._contributions(person, bundle, [item for item, _, _ in ranked], options) \
            if options.explain else []
        for n, (item, score, boosted) in enumerate(ranked):
            entry = {"product_id": str(self._live.item_ids[item]),
                     "title": items.titles[item] if items is not None else None,
                     "category": (str(items.categories[item]) if items is not None and
                                  items.categories is not None else None),
                     "price": (float(items.prices[item]) if items is not None and
                               items.prices is not None else None),
                     "score": None if np.isnan(score) else round(score, 6)}
            if options.explain:
                reasons = [{"kind": "boosted"}] if boosted else []
                reasons += self._explainer.explain(item, person.row.indices, person.purchased,
                                                   person.segment, viewed=person.viewed,
                                                   contributions=parts[n])
                entry["reasons"] = reasons
                entry["reason_text"] = [phrase(r) for r in reasons]  # what a customer may read
                entry["reason_detail"] = [detail(r) for r in reasons]  # for the shop's people
            out.append(entry)
        return {"customer_id": person.customer_id, "model": bundle.meta.get("model"),
                "known_customer": person.user >= 0, "cold_start": int(person.row.nnz) <= 2,
                "segment": person.segment, "items": out}

    def _contributions(self, person: _Person, bundle: Bundle, items: list[int],
                       options: ServeOptions) -> list[list]:
        """The model's split of each ranked item's score, with the mask and pool size the
        ranking used (serving.serve), so a hybrid rebuilds the same candidate pools."""
        allowed = self._rules.mask(options)
        if options.exclude_purchased and len(person.purchased):
            allowed[person.purchased] = False
        if options.exclude_seen:
            allowed[person.row.indices] = False
        pool = options.k if options.max_per_category is None else options.k * 5
        return explain_items(bundle.model, person.row, items, user=person.model_user,
                             allowed=allowed, recalculate_user=person.recalculate,
                             k=min(pool, self._live.n_items))

    # ---- events ----------------------------------------------------------------------------

    def record_events(self, records: list[EventRecord]) -> dict:
        """Persist a batch (idempotent by key), then fold the new ones into profiles."""
        self._check_references(records)
        keys = [record.key() for record in records]
        with self.store.session() as session:
            existing = set(session.scalars(select(Event.idempotency_key)
                                           .where(Event.idempotency_key.in_(keys))))
            fresh, seen_now = [], set()
            for record, key in zip(records, keys):
                if key in existing or key in seen_now:
                    continue
                seen_now.add(key)
                fresh.append(record)
            upsert(session, Event, [{
                "idempotency_key": r.key(), "customer_id": r.customer_id, "type": r.type,
                "product_id": r.product_id, "query": r.query, "session_id": r.session_id,
                "ts": r.timestamp} for r in fresh], ["idempotency_key"], update=False)
        self.fold_in(fresh)
        return {"accepted": [r.key() for r in fresh],
                "duplicates": [k for k in keys if k not in {r.key() for r in fresh}]}

    def _check_references(self, records: list[EventRecord]) -> None:
        customers = {r.customer_id for r in records}
        products = {r.product_id for r in records if r.product_id}
        with self.store.session() as session:
            known_c = set(session.scalars(select(Customer.id).where(Customer.id.in_(customers))))
            known_p = set(session.scalars(select(Product.id).where(Product.id.in_(products))))
        for n, record in enumerate(records):
            if record.customer_id not in known_c:
                raise InvalidInput(f"events[{n}].customer_id: unknown customer "
                                   f"{record.customer_id!r}")
            if record.product_id and record.product_id not in known_p:
                raise InvalidInput(f"events[{n}].product_id: unknown product "
                                   f"{record.product_id!r}")

    def fold_in(self, records: list[EventRecord]) -> None:
        bundle = self._ready()
        options = bundle.data.options
        with self._lock:
            for record in records:
                weight = options.event_weights.get(record.type, 0.0)
                item = self._rules.index.get(record.product_id or "", -1)
                if weight <= 0 or item < 0:
                    continue
                user = self._users.get(record.customer_id)
                if user is None:
                    user = self._users[record.customer_id] = self._next_user
                    self._next_user += 1
                weight *= float(decay(np.array([record.timestamp.timestamp()]),
                                      bundle.data.reference_time, options.half_life_days)[0])
                row = self._extra.setdefault(user, {})
                row[item] = row.get(item, 0.0) + weight
                if record.type == "purchase":
                    self._extra_purchases.setdefault(user, set()).add(item)
                elif record.type == "view":
                    self._extra_views.setdefault(user, set()).add(item)
                self._dirty.add(user)

    def forget(self, customer_id: str) -> None:
        """Drop an erased customer from the live state: their next request is a cold start."""
        if self._bundle is None:
            return  # nothing loaded; `_attach` skips ids missing from the store
        with self._lock:
            user = self._users.pop(customer_id, None)
            (self._bundle.segmentation or {}).get("assignments", {}).pop(customer_id, None)
            if user is not None:
                self._extra.pop(user, None)
                self._extra_purchases.pop(user, None)
                self._extra_views.pop(user, None)
                self._dirty.discard(user)

    # ---- segments --------------------------------------------------------------------------

    def segments(self) -> dict:
        return self._ready().segmentation or {"segments": [], "assignments": {}}

    def info(self) -> dict:
        return self._ready().meta
