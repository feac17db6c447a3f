"""Evaluation data sets of different shapes, each from a seeded generating process.

A recommender is judged on data it never saw, and on more than one shape of it:

- `dense_ratings`: users rate many items 1-5 (a movie-ratings set), timestamps over years;
- `repeat_purchases`: a retailer's invoices, customers reordering items at personal intervals;
- `sessions`: short browsing sessions that walk a hidden item graph, mostly one-off visitors.

Each has latent structure (taste factors, clusters, a neighbour graph) that a collaborative
model can learn and a popularity ranking cannot, so models differ. Each returns
`(EventLog, ItemTable | None)`; `write_csv` writes them as the files the recsys CLI reads.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recsys.interactions import DAY, EventLog, InteractionOptions, ItemTable

EPOCH = datetime(2019, 1, 1, tzinfo=UTC).timestamp()  # every shape starts here
HOUR = 3_600.0


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",")]


# Wholesale homeware feed: category -> product nouns (titles are COLOUR ADJECTIVE NOUN).
FEED_NOUNS = {
    "candles": "CANDLE, TEA LIGHT HOLDER, LANTERN, CANDLESTICK, VOTIVE GLASS",
    "tableware": "PLATE, BOWL, SAUCER, TEACUP, JUG, TEAPOT, CAKE STAND, EGG CUP",
    "storage": "TRINKET BOX, STORAGE JAR, BISCUIT TIN, BASKET, CADDY, DRAWER KNOB",
    "textiles": "CUSHION COVER, TEA TOWEL, APRON, TABLECLOTH, NAPKIN, POT HOLDER",
    "decorations": "BUNTING, GARLAND, WREATH, ORNAMENT, HANGING HEART, BAUBLE",
    "wall decor": "MIRROR, WALL CLOCK, PHOTO FRAME, METAL SIGN, COAT HOOK",
    "stationery": "NOTEBOOK, GIFT WRAP, GREETING CARD, PENCIL CASE, STICKER SHEET",
    "garden": "PLANTER, WATERING CAN, BIRD FEEDER, PLANT POT, DOORMAT",
    "bathroom": "SOAP DISH, TOOTHBRUSH HOLDER, LAUNDRY BAG, HAND TOWEL, BATH CADDY",
    "baking": "COOKIE CUTTER, CAKE TIN, MIXING BOWL, PIE DISH, ROLLING PIN",
    "toys": "JIGSAW, SKIPPING ROPE, MARBLES, DOMINOES, PAPER KITE",
    "lighting": "LAMPSHADE, FAIRY LIGHTS, STRING LANTERN, LAMP BASE",
}
FEED_ADJECTIVES = _words("VINTAGE, RETRO, PAINTED, WOODEN, ENAMEL, CERAMIC, GLASS, WICKER, "
                         "FLORAL, SPOTTY, STRIPED, JUMBO, SMALL, LARGE, RUSTIC, PARISIAN")
FEED_COLOURS = _words("WHITE, RED, PINK, BLUE, GREEN, CREAM, IVORY, BLACK, SILVER, GOLD")

# Furniture and home shop for `sessions`: category -> nouns; titles: Adjective Material Noun.
HOME_NOUNS = {
    "sofas": "Sofa, Loveseat, Corner Sofa, Daybed",
    "chairs": "Armchair, Dining Chair, Footstool, Bar Stool, Rocking Chair",
    "tables": "Coffee Table, Side Table, Dining Table, Console Table, Nest of Tables",
    "lamps": "Floor Lamp, Table Lamp, Pendant Shade, Wall Sconce",
    "rugs": "Rug, Hallway Rug, Round Rug, Doormat",
    "shelving": "Bookcase, Wall Shelf, Ladder Shelf, Display Cabinet",
    "bedding": "Duvet Cover, Pillowcase Pair, Bedspread, Throw",
    "curtains": "Curtain Panel, Roller Blind, Voile, Tie-Back",
    "mirrors": "Wall Mirror, Floor Mirror, Vanity Mirror",
    "planters": "Planter, Plant Stand, Hanging Planter, Window Box",
}
HOME_MATERIALS = _words("Oak, Walnut, Pine, Rattan, Linen, Cotton, Velvet, Marble, Brass, "
                        "Ceramic, Jute, Bamboo, Wool, Glass, Concrete, Cane")
HOME_ADJECTIVES = _words("slim, generous, low, tall, curved, classic, modern, handmade, "
                         "sturdy, airy, textured, minimalist")
HOME_FEATURES = _words("for small rooms, with a matt finish, that arrives flat-packed, "
                       "with tapered feet, in a soft neutral tone, with hidden fixings, "
                       "that is easy to clean, with a hand-finished edge")


# ---- shared helpers ----------------------------------------------------------------------------


def _ids(prefix: str, n: int, start: int = 0) -> np.ndarray:
    width = len(str(start + n - 1))
    return np.array([f"{prefix}{start + i:0{width}d}" for i in range(n)], dtype=object)


def _draw_distinct(logits: np.ndarray, counts: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per row r, `counts[r]` distinct columns drawn with p ~ exp(logits[r]), without
    replacement (Gumbel top-k). logits: (n_rows, n_cols). Returns flat (rows, cols)."""
    keys = logits + rng.gumbel(size=logits.shape)
    order = np.argsort(-keys, axis=1)
    taken = np.arange(logits.shape[1])[None, :] < counts[:, None]  # (n_rows, n_cols)
    rows = np.broadcast_to(np.arange(logits.shape[0])[:, None], order.shape)
    return rows[taken], order[taken]


def _catalog(nouns: dict[str, str], first: list[str], n_items: int,
             rng: np.random.Generator, second: list[str] | None = None):
    """Titles "FIRST [SECOND] NOUN" for `n_items` items spread over the categories, distinct
    while the word lists allow. Returns (category index (n_items,), titles, nouns)."""
    names = list(nouns)
    category = np.sort(rng.integers(0, len(names), n_items))
    titles, item_nouns = [], []
    for c, name in enumerate(names):
        words = _words(nouns[name])
        combos = [(a, b, w) for a in first for b in (second or [""]) for w in words]
        size = int((category == c).sum())
        picks = rng.choice(len(combos), size=size, replace=size > len(combos))
        for pick in picks:
            a, b, w = combos[pick]
            titles.append(" ".join(part for part in (a, b, w) if part))
            item_nouns.append(w)
    order = rng.permutation(n_items)  # categories interleaved over the id range
    return category[order], [titles[i] for i in order], [item_nouns[i] for i in order]


def _text(*parts: str) -> str:
    """The text read_items builds from title, category and description columns."""
    return ". ".join(part for part in parts if part)


def _event_log(users, items, times, user_names, item_names, types=None, weights=None,
               options: InteractionOptions | None = None) -> EventLog:
    """Integer events -> a chronological EventLog, times whole seconds (as files keep them)."""
    times = np.round(times)
    order = np.lexsort((items, users, times))
    if weights is None:
        table = (options or InteractionOptions()).event_weights
        weights = np.array([table.get(t, 0.0) for t in types], dtype=np.float32)
    return EventLog(user_names[users[order]], item_names[items[order]],
                    np.asarray(weights, dtype=np.float32)[order], times[order],
                    None if types is None else np.asarray(types, dtype=object)[order])


# ---- the shapes ------------------------------------------------------------------------------


def dense_ratings(n_users: int = 3000, n_items: int = 1500, factors: int = 8,
                  min_ratings: int = 30, max_ratings: int = 300, years: float = 4.0,
                  seed: int = 0) -> tuple[EventLog, None]:
    """Explicit 1-5 ratings as `weights` (types None). Low-rank taste plus item popularity
    decide which items a user rates and how; each user rates in a few bursts."""
    rng = np.random.default_rng(seed)
    user_taste = rng.normal(size=(n_users, factors))
    item_taste = rng.normal(size=(n_items, factors))
    affinity = user_taste @ item_taste.T / np.sqrt(factors)  # (n_users, n_items), ~N(0, 1)
    log_popularity = -0.8 * np.log1p(rng.permutation(n_items))  # Zipf over ranks

    # How many: 30 for most, a long tail of heavy raters up to 300.
    counts = np.round(min_ratings * np.exp(rng.exponential(0.5, n_users)))
    counts = np.clip(counts, min_ratings, min(max_ratings, n_items)).astype(int)
    users, items = _draw_distinct(log_popularity[None, :] + 1.5 * affinity, counts, rng)

    # How much: taste, item quality (popular items are a bit better), a per-user offset.
    z_popularity = (log_popularity - log_popularity.mean()) / log_popularity.std()
    quality = 0.4 * z_popularity + rng.normal(0, 0.5, n_items)
    leniency = rng.normal(0, 0.4, n_users)
    score = (2.5 + 0.4 * quality[items] + leniency[users] + 0.9 * affinity[users, items]
             + rng.normal(0, 0.6, len(users)))
    ratings = np.clip(np.rint(score), 1, 5)

    # When: users arrive over the years; each rates in bursts weeks apart, an evening each.
    span = years * 365 * DAY
    arrival = rng.uniform(0, 0.9 * span, n_users)
    n_bursts = 1 + rng.poisson(counts / 40)
    gaps = rng.exponential(45 * DAY, (n_users, n_bursts.max()))
    gaps[:, 0] = 0.0
    burst_start = np.minimum(arrival[:, None] + np.cumsum(gaps, axis=1), span - 4 * HOUR)
    burst = (rng.random(len(users)) * n_bursts[users]).astype(int)
    times = EPOCH + burst_start[users, burst] + rng.uniform(0, 4 * HOUR, len(users))
    log = _event_log(users, items, times, _ids("u", n_users), _ids("m", n_items),
                     weights=ratings)
    return log, None


def repeat_purchases(n_customers: int = 2000, n_items: int = 1500, factors: int = 6,
                     days: float = 730.0, churn: float = 0.35, seed: int = 0,
                     options: InteractionOptions | None = None) -> tuple[EventLog, ItemTable]:
    """A wholesale shop's invoice lines (`purchase` events only).

    Customers try items that suit their taste (factors around category centres, plus
    popularity), then reorder many of them: each customer-item pair has a reorder interval
    around the item's typical one, scaled by the customer's pace, with noise, and stops after
    a geometric number of reorders (sooner for items that suit them less). Orders fall on the
    customer's order days; some customers churn. About half of each customer's latest
    purchases are repeats (`repeat_share`).
    """
    rng = np.random.default_rng(seed)
    category, titles, _ = _catalog(FEED_NOUNS, FEED_COLOURS, n_items, rng, FEED_ADJECTIVES)
    n_categories = len(FEED_NOUNS)
    centres = rng.normal(size=(n_categories, factors))
    item_taste = centres[category] + 0.8 * rng.normal(size=(n_items, factors))
    customer_taste = rng.normal(size=(n_customers, factors))
    affinity = customer_taste @ item_taste.T / np.sqrt(2 * factors)  # (n_customers, n_items)
    log_popularity = -0.7 * np.log1p(rng.permutation(n_items))
    typical_interval = np.clip(rng.lognormal(np.log(30), 0.5, n_items), 7, 180) * DAY

    start = rng.uniform(0, 0.5 * days, n_customers) * DAY
    lifetime = np.where(rng.random(n_customers) < churn,
                        rng.exponential(180, n_customers) + 30, np.inf) * DAY
    end = np.minimum(start + lifetime, days * DAY)
    cadence = np.clip(rng.lognormal(np.log(7), 0.5, n_customers), 2, 30) * DAY  # order days
    pace = rng.lognormal(0, 0.3, n_customers)  # scales all of a customer's reorder intervals
    order_hour = np.round(rng.uniform(8, 17, n_customers) * 60) * 60

    # Exploration: distinct items tried, first bought at any time while the customer is active.
    explore_rate = rng.lognormal(np.log(0.07), 0.5, n_customers)  # new items per day
    n_tried = 2 + rng.poisson(explore_rate * (end - start) / DAY)
    users, items = _draw_distinct(log_popularity[None, :] + 1.5 * affinity,
                                  np.minimum(n_tried, n_items), rng)
    first = start[users] + (end - start)[users] * rng.random(len(users))

    # Replenishment chains: (n_pairs, max_reorders + 1) candidate purchase times.
    fit = affinity[users, items]
    p_again = 1.0 / (1.0 + np.exp(1.4 - fit))  # another reorder after this one
    n_reorders = rng.geometric(1.0 - p_again) - 1
    interval = typical_interval[items] * pace[users] * rng.lognormal(0, 0.3, len(users))
    steps = min(int(n_reorders.max()), 60)
    gaps = interval[:, None] * rng.lognormal(0, 0.25, (len(users), steps))
    times = first[:, None] + np.c_[np.zeros(len(users)), np.cumsum(gaps, axis=1)]
    alive = ((np.arange(steps + 1)[None, :] <= n_reorders[:, None])
             & (times < end[users][:, None]))
    pair, _ = np.nonzero(alive)
    users, items, times = users[pair], items[pair], times[alive]

    # Snap to the customer's next order day: one invoice, one timestamp, for all its lines.
    days_in = np.ceil((times - start[users]) / cadence[users])
    times = EPOCH + start[users] + days_in * cadence[users] + order_hour[users]
    keep = times < EPOCH + days * DAY
    key = np.unique(np.c_[users[keep], items[keep], np.round(times[keep])], axis=0)
    users, items, times = key[:, 0].astype(int), key[:, 1].astype(int), key[:, 2]

    item_names = _ids("", n_items, start=20000)  # stock codes
    types = np.full(len(users), "purchase", dtype=object)
    log = _event_log(users, items, times, _ids("", n_customers, start=12000), item_names,
                     types=types, options=options)
    base_price = rng.lognormal(np.log(2.5), 0.7, n_categories)
    prices = np.round(base_price[category] * rng.lognormal(0, 0.4, n_items), 2)
    names = np.array(list(FEED_NOUNS), dtype=object)[category]
    table = ItemTable(ids=item_names, titles=titles,
                      texts=[_text(t, c) for t, c in zip(titles, names)],
                      categories=names, prices=np.maximum(prices, 0.1))
    return log, table


def sessions(n_users: int = 8000, n_items: int = 2000, n_clusters: int = 40, factors: int = 16,
             days: float = 90.0, seed: int = 0,
             options: InteractionOptions | None = None) -> tuple[EventLog, ItemTable]:
    """Short browsing sessions: views that walk a hidden item graph (each item's nearest
    neighbours in a latent space of clusters), with a few add_to_cart and purchase events.
    Most visitors come once to three times; a session starts in their favourite cluster.
    `n_clusters` is rounded down to a multiple of the 10 categories."""
    rng = np.random.default_rng(seed)
    adjectives = [word.capitalize() for word in HOME_ADJECTIVES]
    category, titles, nouns = _catalog(HOME_NOUNS, adjectives, n_items, rng, HOME_MATERIALS)
    per_category = max(n_clusters // len(HOME_NOUNS), 1)  # clusters nest in categories
    cluster = category * per_category + rng.integers(0, per_category, n_items)
    n_clusters = per_category * len(HOME_NOUNS)
    centres = rng.normal(size=(n_clusters, factors))
    position = centres[cluster] + 0.6 * rng.normal(size=(n_items, factors))
    position /= np.linalg.norm(position, axis=1, keepdims=True)
    similarity = position @ position.T  # (n_items, n_items)
    np.fill_diagonal(similarity, -np.inf)
    n_neighbours = 12
    neighbours = np.argsort(-similarity, axis=1)[:, :n_neighbours]  # the item graph
    popularity = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.7

    # Popularity-weighted draws inside a cluster: inverse CDF over items sorted by cluster.
    by_cluster = np.argsort(cluster, kind="stable")
    cdf = np.cumsum(popularity[by_cluster])
    bounds = np.r_[0.0, cdf[np.cumsum(np.bincount(cluster, minlength=n_clusters)) - 1]]

    def in_cluster(c: np.ndarray) -> np.ndarray:
        x = bounds[c] + rng.random(len(c)) * (bounds[c + 1] - bounds[c])
        return by_cluster[np.minimum(np.searchsorted(cdf, x, side="right"), n_items - 1)]

    # Visitors: 1-3 sessions for most, a few regulars with up to 10.
    n_sessions = rng.choice([1, 2, 3], n_users, p=[0.6, 0.27, 0.13])
    regulars = rng.random(n_users) < 0.04
    n_sessions[regulars] = rng.integers(4, 11, int(regulars.sum()))
    favourite = rng.integers(0, n_clusters, n_users)
    session_user = np.repeat(np.arange(n_users), n_sessions)
    first_visit = rng.uniform(0, days * DAY, n_users)
    gaps = rng.exponential(6 * DAY, len(session_user))
    gaps[np.r_[0, np.cumsum(n_sessions)[:-1]]] = 0.0  # a visitor's first session
    session_start = first_visit[session_user] + _cumsum_by_group(gaps, n_sessions)
    length = np.minimum(rng.geometric(0.2, len(session_user)), 30)

    # Walk all sessions at once: step t moves every session still longer than t.
    n = len(session_user)
    own = rng.random(n) < 0.7
    current = np.where(own, in_cluster(favourite[session_user]),
                       rng.choice(n_items, n, p=popularity / popularity.sum()))
    clock = session_start.copy()
    walk_s, walk_i, walk_t = [np.arange(n)], [current.copy()], [clock.copy()]
    rank_p = 1.0 / (1.0 + np.arange(n_neighbours)) ** 0.7
    for step in range(1, int(length.max())):
        live = np.flatnonzero(length > step)
        rank = rng.choice(n_neighbours, len(live), p=rank_p / rank_p.sum())
        nxt = neighbours[current[live], rank]  # mostly a near neighbour of the current item
        jump = rng.random(len(live)) < 0.15  # else elsewhere in the same cluster, by popularity
        nxt[jump] = in_cluster(cluster[current[live[jump]]])
        current[live] = nxt
        clock[live] += rng.lognormal(np.log(40), 0.8, len(live))
        walk_s.append(live)
        walk_i.append(nxt)
        walk_t.append(clock[live].copy())
    view_session, items, times = (np.concatenate(part) for part in (walk_s, walk_i, walk_t))
    users = session_user[view_session]

    # A few views go to the cart; some carts are bought at the end of the session.
    carted = np.flatnonzero(rng.random(len(items)) < 0.06)
    bought = carted[rng.random(len(carted)) < 0.35]
    session_end = np.zeros(n)
    np.maximum.at(session_end, view_session, times)
    users = np.r_[users, users[carted], users[bought]]
    times = np.r_[times, times[carted] + 20, session_end[view_session[bought]] + 90]
    types = np.r_[np.full(len(items), "view", dtype=object),
                  np.full(len(carted), "add_to_cart", dtype=object),
                  np.full(len(bought), "purchase", dtype=object)]
    items = np.r_[items, items[carted], items[bought]]

    item_names = _ids("p", n_items)
    log = _event_log(users, items, EPOCH + times, _ids("v", n_users), item_names,
                     types=types, options=options)
    names = np.array(list(HOME_NOUNS), dtype=object)[category]
    first = rng.integers(0, len(HOME_FEATURES), n_items)
    second = (first + rng.integers(1, len(HOME_FEATURES), n_items)) % len(HOME_FEATURES)
    descriptions = [f"A {noun.lower()} {HOME_FEATURES[i]}, {HOME_FEATURES[j]}."
                    for noun, i, j in zip(nouns, first, second)]
    prices = np.round(rng.lognormal(np.log(120), 0.8, n_items), 2)
    table = ItemTable(ids=item_names, titles=titles,
                      texts=[_text(*parts) for parts in zip(titles, names, descriptions)],
                      categories=names, prices=prices)
    return log, table


def _cumsum_by_group(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Running sum of `values` restarting at each group of `sizes` consecutive entries."""
    total = np.cumsum(values)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    offset = np.repeat(total[starts] - values[starts], sizes)
    return total - offset


def repeat_share(log: EventLog, holdout: float = 0.2) -> float:
    """Share of the held-out events (each user's latest `holdout`, as evaluation splits
    them) whose item that user already had earlier."""
    order = np.lexsort((np.arange(len(log)), log.timestamps, log.user_ids.astype(str)))
    users, items = log.user_ids[order].astype(str), log.item_ids[order].astype(str)
    pair = np.char.add(np.char.add(users, "\x00"), items)
    _, first = np.unique(pair, return_index=True)
    repeat = np.ones(len(order), dtype=bool)
    repeat[first] = False  # np.unique keeps a pair's first (earliest) position
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    n_test = np.where(sizes >= 3, np.round(holdout * sizes), 0).astype(int)
    position = np.arange(len(order)) - np.repeat(starts, sizes)  # index inside the user
    held_out = position >= np.repeat(sizes - n_test, sizes)
    return float(repeat[held_out].mean()) if held_out.any() else 0.0


# ---- files -------------------------------------------------------------------------------------


def _description(title: str, category: str, text: str) -> str:
    """The description that makes read_items rebuild `text` from title and category."""
    prefix = _text(title, category)
    if text == prefix:
        return ""
    return text[len(prefix) + 2:] if text.startswith(prefix + ". ") else text


def write_csv(log: EventLog, items: ItemTable | None,
              directory: Path) -> tuple[Path, Path | None]:
    """`interactions.csv` (user_id,item_id,timestamp,event|weight; ISO 8601 UTC times) and,
    with a catalog, `items.csv` (item_id,title,category,price,description), as read back by
    read_interactions and read_items. An event column is weighted by the reader's options."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamps = np.round(log.timestamps).astype(np.int64).astype("datetime64[s]")
    iso = np.char.add(np.datetime_as_string(stamps, unit="s").astype(str), "Z")
    values = log.types if log.types is not None else [repr(float(w)) for w in log.weights]
    interactions = directory / "interactions.csv"
    with interactions.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "timestamp",
                         "event" if log.types is not None else "weight"])
        writer.writerows(zip(log.user_ids, log.item_ids, iso, values))
    if items is None:
        return interactions, None
    n = len(items.ids)
    categories = items.categories if items.categories is not None else [""] * n
    prices = ([""] * n if items.prices is None else
              ["" if np.isnan(p) else repr(float(p)) for p in items.prices])
    path = directory / "items.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "title", "category", "price", "description"])
        for row in zip(items.ids, items.titles, categories, prices, items.texts):
            item, title, category, price, text = row
            writer.writerow([item, title, category, price,
                             _description(title, category or "", text)])
    return interactions, path
