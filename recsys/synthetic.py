"""Synthetic interactions with structure (category affinity, popularity skew, co-purchases),
for unit tests and benchmarks. Vectorised so a million events take about a second."""

from __future__ import annotations

import numpy as np

from recsys.interactions import DAY, EventLog, InteractionOptions, ItemTable

TYPES = np.array(["view", "click", "add_to_cart", "purchase"], dtype=object)


def synthetic(n_users: int = 300, n_items: int = 200, n_events: int = 6_000,
              n_categories: int = 8, seed: int = 0, days: float = 180.0,
              options: InteractionOptions | None = None) -> tuple[EventLog, ItemTable]:
    options = options or InteractionOptions()
    rng = np.random.default_rng(seed)
    item_category = rng.integers(0, n_categories, n_items)
    by_category = [np.flatnonzero(item_category == c) for c in range(n_categories)]
    by_category = [c if len(c) else np.arange(n_items) for c in by_category]
    # Zipf-like popularity inside each category.
    popularity = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.8
    favourite = rng.integers(0, n_categories, n_users)

    users = rng.integers(0, n_users, n_events)
    own = rng.random(n_events) < 0.8
    items = np.empty(n_events, dtype=np.int64)
    for c in range(n_categories):
        members = by_category[c]
        p = popularity[members] / popularity[members].sum()
        pick = own & (favourite[users] == c)
        items[pick] = rng.choice(members, size=int(pick.sum()), p=p)
    rest = ~own
    p_all = popularity / popularity.sum()
    items[rest] = rng.choice(n_items, size=int(rest.sum()), p=p_all)
    types = TYPES[rng.choice(4, size=n_events, p=[0.6, 0.2, 0.12, 0.08])]
    times = 1.7e9 + rng.random(n_events) * days * DAY
    # Co-purchases: half of the purchases of item i come with its partner i ^ 1.
    bought = np.flatnonzero((types == "purchase") & (rng.random(n_events) < 0.5))
    partner = np.minimum(items[bought] ^ 1, n_items - 1)
    users = np.concatenate([users, users[bought]])
    items = np.concatenate([items, partner])
    types = np.concatenate([types, types[bought]])
    times = np.concatenate([times, times[bought] + 60])

    weights = np.array([options.event_weights.get(t, 0.0) for t in TYPES], dtype=np.float32)
    type_code = {t: i for i, t in enumerate(TYPES)}
    codes = np.array([type_code[t] for t in types])
    item_names = np.array([f"i{i}" for i in range(n_items)], dtype=object)
    log = EventLog(np.array([f"u{u}" for u in users], dtype=object), item_names[items],
                   weights[codes], times, types)
    categories = np.array([f"cat{c}" for c in item_category], dtype=object)
    table = ItemTable(
        ids=item_names, titles=[f"Item {i}" for i in range(n_items)],
        texts=[f"item {i} in category {categories[i]}" for i in range(n_items)],
        categories=categories, prices=np.round(rng.uniform(5, 200, n_items), 2),
        in_stock=rng.random(n_items) > 0.05,
    )
    return log, table


def hashed_encoder(dimension: int = 32):
    """A deterministic stand-in for MiniLM in unit tests: bag of hashed words, normalised."""
    import zlib

    def encode(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    return encode
