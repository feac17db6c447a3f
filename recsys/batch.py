"""Recommendations for many users from a saved model folder (the file-based path)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from recsys.contributions import explain_items
from recsys.models.base import user_rows
from recsys.reasons import Explainer, detail, phrase
from recsys.training import Bundle

CHUNK = 512


def recommend_users(bundle: Bundle, user_ids: list[str], k: int = 10, explain: bool = False,
                    exclude_seen: bool = True) -> Iterator[dict]:
    """One dict per user, in order: {"user_id", "items", "scores"}; with explain also
    "reasons" (the model's split of each score first, else the data's evidence),
    "reason_text" (as a customer would read them) and "reason_detail" (shares and counts).
    Unknown users get cold-start recommendations (empty history). The files carry no views
    here, so no reason says "viewed"."""
    data, model = bundle.data, bundle.model
    explainer = None
    if explain:
        similarity = getattr(model.children().get("item_knn", model), "similarity", None)
        content = model.children().get("content", model)
        embeddings = getattr(content, "embeddings", None)
        if embeddings is None and data.items is not None:
            embeddings = data.items.embeddings
        explainer = Explainer(data, similarity, embeddings)
    for start in range(0, len(user_ids), CHUNK):
        chunk = user_ids[start:start + CHUNK]
        users = np.array([data.user_index.get(user, -1) for user in chunk], dtype=np.int64)
        rows = user_rows(data, users)
        ids, scores = model.recommend(users, rows, k, exclude_seen=exclude_seen)
        for n, user in enumerate(chunk):
            keep = ids[n] >= 0
            out = {"user_id": user, "items": [str(data.item_ids[i]) for i in ids[n][keep]],
                   "scores": [round(float(s), 6) for s in scores[n][keep]]}
            if explainer is not None:
                u = users[n]
                bought = (data.purchases[u].indices if u >= 0 and data.purchases is not None
                          else np.zeros(0, dtype=np.int64))
                segment = (int(data.user_segments[u]) if u >= 0 and data.user_segments
                           is not None else None)
                items = ids[n][keep]
                # as ranked: with no mask, a hybrid's pools leave out the history
                everything = None if exclude_seen else np.ones(data.n_items, dtype=bool)
                parts = explain_items(model, rows[n], items, user=int(u), allowed=everything,
                                      recalculate_user=False, k=k)
                reasons = [explainer.explain(i, rows[n].indices, bought, segment,
                                             contributions=p) for i, p in zip(items, parts)]
                out["reasons"] = reasons
                out["reason_text"] = [[phrase(r) for r in rs] for rs in reasons]
                out["reason_detail"] = [[detail(r) for r in rs] for rs in reasons]
            yield out
