"""Interactions: raw behaviour events -> a weighted, time-decayed user x item matrix.

Events come from the store (shop.schema.Event) or from files. An `EventLog` keeps the raw
events as arrays (so evaluation can split them by time); `Interactions` is what models fit on.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse

from shop.errors import InvalidInput

DAY = 86_400.0


class InteractionOptions(BaseModel):
    """How events become interaction strengths. Event types not listed (search) are ignored."""

    model_config = ConfigDict(extra="forbid")

    event_weights: dict[str, float] = Field(
        default_factory=lambda: {"purchase": 6.0, "add_to_cart": 3.0, "click": 1.5, "view": 1.0,
                                 # a review's rating is in its type (recsys/review_feedback.py):
                                 # 4 and 5 stars count, 3 or fewer weigh nothing
                                 "review:5": 3.0, "review:4": 1.5})
    half_life_days: float | None = Field(default=60.0, gt=0)  # None: no time decay
    # Decay by order instead of clock: an event counts 0.5 ** (later events of the same
    # user / this). Sessions and rating bursts, where "what came last" matters more than when.
    half_life_events: float | None = Field(default=None, gt=0)
    # Decay is measured back from here; default: the newest event in the data.
    reference_time: datetime | None = None


@dataclass
class EventLog:
    """Raw events as parallel arrays. `weights` is the per-event base weight (before decay)."""

    user_ids: np.ndarray  # str, (n,)
    item_ids: np.ndarray  # str, (n,)
    weights: np.ndarray  # float32, (n,)
    timestamps: np.ndarray  # float64 unix seconds, (n,); 0 where unknown
    types: np.ndarray | None = None  # str event types when known (purchase, view, ...)

    def __len__(self) -> int:
        return len(self.user_ids)

    def take(self, index: np.ndarray) -> EventLog:
        return EventLog(self.user_ids[index], self.item_ids[index], self.weights[index],
                        self.timestamps[index], None if self.types is None else self.types[index])


@dataclass
class ItemTable:
    """Catalog side information, one entry per item id (aligned with `ids`)."""

    ids: np.ndarray  # str
    titles: list[str]
    texts: list[str]  # what the content model embeds
    categories: np.ndarray | None = None  # str
    prices: np.ndarray | None = None  # float
    in_stock: np.ndarray | None = None  # bool
    embeddings: np.ndarray | None = None  # (n_items, dim) float32, L2-normalised, filled lazily

    def align(self, item_ids: np.ndarray) -> ItemTable:
        """This table reordered to `item_ids`; items it does not know get empty entries."""
        where = {item: i for i, item in enumerate(self.ids)}
        index = np.array([where.get(item, -1) for item in item_ids])
        known = index >= 0

        def pick(values, empty):
            out = np.full(len(item_ids), empty, dtype=np.asarray(values).dtype if
                          not isinstance(empty, str) else object)
            out[known] = np.asarray(values, dtype=out.dtype)[index[known]]
            return out

        embeddings = None
        if self.embeddings is not None and known.all():
            embeddings = self.embeddings[index]
        return ItemTable(
            ids=np.asarray(item_ids, dtype=object),
            titles=list(pick(np.asarray(self.titles, dtype=object), "")),
            texts=list(pick(np.asarray(self.texts, dtype=object), "")),
            categories=None if self.categories is None else pick(self.categories.astype(object), ""),
            prices=None if self.prices is None else pick(self.prices.astype(float), np.nan),
            in_stock=None if self.in_stock is None else pick(self.in_stock.astype(bool), False),
            embeddings=embeddings,
        )


@dataclass
class PairHistory:
    """When each user came back to each item, for repeat ("buy it again") models. All
    (n_users, n_items) CSR with the same pattern as the interaction matrix; values are
    stored +1 so that a 0 stays distinguishable from "no entry"."""

    days: sparse.csr_matrix  # distinct days with an event on the pair, +1
    age: sparse.csr_matrix  # days from the last event to the reference time, +1
    span: sparse.csr_matrix  # days from the first to the last event, +1


def pair_history(rows: np.ndarray, cols: np.ndarray, timestamps: np.ndarray, reference: float,
                 shape: tuple[int, int]) -> PairHistory:
    pair = rows * shape[1] + cols
    day = np.floor(timestamps / DAY).astype(np.int64)
    # Distinct (pair, day) first: three events of one visit are one return.
    visits = np.unique(np.stack([pair, day]), axis=1)
    pairs, inverse, counts = np.unique(visits[0], return_inverse=True, return_counts=True)
    first = np.full(len(pairs), np.iinfo(np.int64).max)
    last = np.full(len(pairs), np.iinfo(np.int64).min)
    np.minimum.at(first, inverse, visits[1])
    np.maximum.at(last, inverse, visits[1])
    r, c = pairs // shape[1], pairs % shape[1]
    reference_day = np.floor(reference / DAY)

    def csr(values) -> sparse.csr_matrix:
        return sparse.csr_matrix((np.asarray(values, dtype=np.float32), (r, c)), shape=shape)

    return PairHistory(csr(counts + 1), csr(np.clip(reference_day - last, 0, None) + 1),
                       csr(last - first + 1))


@dataclass
class Interactions:
    """What every recommender fits on: a users x items CSR matrix of decayed weights."""

    user_ids: np.ndarray  # index -> external id
    item_ids: np.ndarray
    matrix: sparse.csr_matrix  # float32 (n_users, n_items)
    purchases: sparse.csr_matrix | None = None  # binary (n_users, n_items), when types are known
    items: ItemTable | None = None
    user_segments: np.ndarray | None = None  # int (n_users,), -1 = none
    reference_time: float = 0.0
    options: InteractionOptions = field(default_factory=InteractionOptions)
    # The kept events (rows, cols, timestamps) for `history`, which only repeat models read:
    # it is derived on first use, not on every build. Not saved with a model.
    events: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    _history: PairHistory | None = None
    _user_index: dict | None = None
    _item_index: dict | None = None

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    @property
    def user_index(self) -> dict[str, int]:
        if self._user_index is None:
            self._user_index = {user: i for i, user in enumerate(self.user_ids)}
        return self._user_index

    @property
    def item_index(self) -> dict[str, int]:
        if self._item_index is None:
            self._item_index = {item: i for i, item in enumerate(self.item_ids)}
        return self._item_index

    @property
    def history(self) -> PairHistory | None:
        """When each user came back to each item; None without the events (a loaded model)."""
        if self._history is None and self.events is not None:
            self._history = pair_history(*self.events, self.reference_time, self.matrix.shape)
        return self._history

    def with_segments(self, segments: np.ndarray) -> Interactions:
        return replace(self, user_segments=segments)


def decay(timestamps: np.ndarray, reference: float, half_life_days: float | None) -> np.ndarray:
    """0.5 ** (age / half-life); events newer than the reference count fully."""
    if half_life_days is None:
        return np.ones(len(timestamps), dtype=np.float32)
    age_days = np.clip(reference - timestamps, 0.0, None) / DAY
    return np.power(0.5, age_days / half_life_days).astype(np.float32)


def events_after(users: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """For each event, how many events of the same user come after it (ties by position)."""
    order = np.lexsort((np.arange(len(users)), timestamps, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    size = np.repeat(ends - starts, ends - starts)
    position = np.arange(len(order)) - np.repeat(starts, ends - starts)
    out = np.empty(len(order), dtype=np.float32)
    out[order] = size - 1 - position
    return out


def build_interactions(log: EventLog, options: InteractionOptions | None = None, *,
                       items: ItemTable | None = None, item_ids: np.ndarray | None = None,
                       user_ids: np.ndarray | None = None) -> Interactions:
    """Aggregate events into the matrix. The item universe is `item_ids`, else the catalog in
    `items`, else the items seen in the log; likewise users (events of unknown ids are dropped)."""
    options = options or InteractionOptions()
    if item_ids is None:
        item_ids = items.ids if items is not None else np.unique(log.item_ids)
    if user_ids is None:
        user_ids = np.unique(log.user_ids)
    item_ids = np.asarray(item_ids, dtype=object)
    user_ids = np.asarray(user_ids, dtype=object)
    user_pos = {user: i for i, user in enumerate(user_ids)}
    item_pos = {item: i for i, item in enumerate(item_ids)}
    rows = np.fromiter((user_pos.get(u, -1) for u in log.user_ids), dtype=np.int64, count=len(log))
    cols = np.fromiter((item_pos.get(i, -1) for i in log.item_ids), dtype=np.int64, count=len(log))
    keep = (rows >= 0) & (cols >= 0) & (log.weights > 0)
    if options.reference_time is not None:
        reference = options.reference_time.replace(tzinfo=options.reference_time.tzinfo
                                                   or UTC).timestamp()
    else:
        reference = float(log.timestamps.max()) if len(log) else 0.0
    weights = log.weights[keep] * decay(log.timestamps[keep], reference, options.half_life_days)
    if options.half_life_events is not None:
        later = events_after(rows[keep], log.timestamps[keep])
        weights = weights * np.power(0.5, later / options.half_life_events).astype(np.float32)
    shape = (len(user_ids), len(item_ids))
    matrix = sparse.csr_matrix((weights, (rows[keep], cols[keep])), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    purchases = None
    if log.types is not None:
        bought = keep & (log.types == "purchase")
        purchases = sparse.csr_matrix((np.ones(int(bought.sum()), dtype=np.float32),
                                       (rows[bought], cols[bought])), shape=shape)
        purchases.sum_duplicates()
        purchases.data[:] = 1.0
    aligned = items.align(item_ids) if items is not None else None
    return Interactions(user_ids, item_ids, matrix, purchases, aligned, None, reference, options,
                        (rows[keep], cols[keep], log.timestamps[keep]))


# ---- reading files ---------------------------------------------------------------------------

# Column names other schemas use, mapped to ours (the demo's events.csv and products.csv).
ALIASES = {"customer_id": "user_id", "product_id": "item_id", "type": "event", "ts": "timestamp"}


def _parse_time(value: str) -> float:
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"timestamp {value!r} is neither ISO 8601 nor unix seconds") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _header(path: Path) -> list[str]:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise InvalidInput(f"{path}:1: the file is empty; expected a header row")
    return [ALIASES.get(name.strip(), name.strip()) for name in header]


def read_interactions(path: Path, options: InteractionOptions | None = None) -> EventLog:
    """A CSV with a header: `user_id,item_id` and optionally `timestamp` and `weight` or `event`.

    The demo's events.csv (customer_id, product_id, type, timestamp) is read as-is: those
    columns map to user_id, item_id, event, timestamp, and rows without a product (searches)
    are skipped. An `event` column is weighted by `options.event_weights`.
    """
    options = options or InteractionOptions()
    path = Path(path)
    header = _header(path)
    missing = [name for name in ("user_id", "item_id") if name not in header]
    if missing:
        raise InvalidInput(f"{path}:1: missing required column(s): {', '.join(missing)} "
                           f"(found: {', '.join(header)})")
    users, items, weights, times, types = [], [], [], [], []
    has_event, has_weight = "event" in header, "weight" in header
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        col = {name: i for i, name in enumerate(header)}
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            item = row[col["item_id"]].strip()
            user = row[col["user_id"]].strip()
            if not item or not user:
                continue  # e.g. a search event: no product
            if has_weight and row[col["weight"]].strip():
                try:
                    weight = float(row[col["weight"]])
                except ValueError:
                    raise InvalidInput(f"{path}:{line}: column 'weight': not a number") from None
            elif has_event:
                weight = options.event_weights.get(row[col["event"]].strip(), 0.0)
            else:
                weight = 1.0
            users.append(user)
            items.append(item)
            weights.append(weight)
            try:
                times.append(_parse_time(row[col["timestamp"]].strip()) if "timestamp" in col else 0.0)
            except InvalidInput as exc:
                raise InvalidInput(f"{path}:{line}: column 'timestamp': {exc}") from None
            if has_event:
                types.append(row[col["event"]].strip())
    return EventLog(np.asarray(users, dtype=object), np.asarray(items, dtype=object),
                    np.asarray(weights, dtype=np.float32), np.asarray(times, dtype=np.float64),
                    np.asarray(types, dtype=object) if has_event else None)


TEXT_SKIP = {"item_id", "price", "stock", "url", "currency"}


def read_items(path: Path) -> ItemTable:
    """A CSV with `item_id` (or the demo's `id`) plus text columns; `title`, `category`,
    `price` and `stock` are used for display, diversity and filters when present."""
    path = Path(path)
    header = _header(path)
    if "item_id" not in header and "id" in header:
        header[header.index("id")] = "item_id"
    if "item_id" not in header:
        raise InvalidInput(f"{path}:1: missing required column: item_id (found: {', '.join(header)})")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = [dict(zip(header, row)) for row in reader if row]
    text_columns = [name for name in header if name not in TEXT_SKIP]

    def text_of(row: dict) -> str:
        parts = []
        for name in text_columns:
            value = (row.get(name) or "").strip()
            if name == "attributes" and value.startswith("{"):
                try:
                    value = ", ".join(f"{k}: {v}" for k, v in json.loads(value).items())
                except json.JSONDecodeError:
                    pass
            if value:
                parts.append(value)
        return ". ".join(parts)

    def floats(name: str) -> np.ndarray | None:
        if name not in header:
            return None
        return np.array([float(row[name]) if (row.get(name) or "").strip() else np.nan
                         for row in rows])

    stock = floats("stock")
    return ItemTable(
        ids=np.asarray([row["item_id"].strip() for row in rows], dtype=object),
        titles=[row.get("title") or row["item_id"] for row in rows],
        texts=[text_of(row) for row in rows],
        categories=(np.asarray([row.get("category", "") for row in rows], dtype=object)
                    if "category" in header else None),
        prices=floats("price"),
        in_stock=None if stock is None else ~(stock <= 0),
    )


def product_text(title: str, description: str, category: str, brand: str, attributes: dict) -> str:
    attrs = ", ".join(f"{key}: {value}" for key, value in (attributes or {}).items())
    return ". ".join(part for part in (title, category, brand, description, attrs) if part)
