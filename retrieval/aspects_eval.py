"""How well review clauses are assigned to aspects, and their polarity read, on the labelled
reviews of data/eval/reviews/labelled.jsonl (written by hand; English and German).

Each labelled review lists its pieces (sentences, and clauses a contrast opens) with the
aspect each talks about (or none) and its polarity (pos / neg / neu). Measured:

- assignment, on the labelled pieces: accuracy (aspect or none, exactly), macro F1 over the
  aspects, and precision / recall of "talks about some aspect";
- per review, with the pipeline's own splitting (shop/lexicon/aspects.py's clauses): micro
  precision / recall / F1 of the set of aspects the review mentions;
- polarity of the pieces that talk about an aspect and are pos or neg: the accuracy of the
  sign of the stars alone, of the clause's own polarity alone, and of their blend
  (retrieval/review_aspects.py's sentence_sentiment).

The threshold, the polarity scale and the blend weight are tuned on split "a" and reported
on split "b", so no reported figure is measured on the data it was tuned on.

The copy check reads ad copy with the same lexicon and threshold: copy_praise.jsonl holds
ad-copy sentences, each labelled with the aspect it praises (or none), in splits a and b too.
Only how much polarity a copy sentence needs to count as praise (`praise_above`) is tuned, on
its split a (best F1 of "praises aspect a", exact aspect); precision and recall are reported
on split b.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.aspects import AspectModel
from retrieval.review_aspects import sentence_sentiment
from shop.lexicon.aspects import GENERAL, aspect_lexicon, clauses, sentences
from shop.resources import data_dir

THRESHOLDS = tuple(round(0.20 + 0.01 * i, 2) for i in range(61))  # 0.20 .. 0.80
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))  # rating weight 0 .. 1
SCALES = (0.02, 0.05, 0.1, 0.2)
PRAISE_ABOVE = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25)


def labelled_path(name: str = "labelled.jsonl") -> Path:
    return data_dir() / "eval" / "reviews" / name


def load_labelled(path: Path | None = None) -> list[dict[str, Any]]:
    with (path or labelled_path()).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def praise(model: AspectModel, items: list[dict]) -> dict:
    """Copy sentences: is the praised aspect found (exactly), and nothing found where none
    is praised?"""
    tp = fp = fn = 0
    for language in sorted({item["language"] for item in items}):
        mine = [item for item in items if item["language"] == language]
        for item, said in zip(mine, model.praises([i["text"] for i in mine], language)):
            gold = item["praises"]
            tp += bool(said) and said == gold
            fp += bool(said) and said != gold
            fn += bool(gold) and said != gold
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"sentences": len(items), "precision": _r(precision), "recall": _r(recall),
            "f1": _r(2 * precision * recall / max(precision + recall, 1e-9))}


# ---- scoring ------------------------------------------------------------------------------


def _scored(model: AspectModel, reviews: list[dict]) -> list[dict]:
    """One row per labelled piece: gold labels, the aspect's best similarity, the best key
    with and without the `general` seeds, and the polarity gap of the gold aspect."""
    rows = []
    for language in sorted({r["language"] for r in reviews}):
        mine = [r for r in reviews if r["language"] == language]
        pieces = [(r, p) for r in mine for p in r["pieces"]]
        keys, sims, gaps = model.scores([p["text"] for _, p in pieces], language)
        general = keys.index(GENERAL) if GENERAL in keys else None
        for row, (review, piece) in enumerate(pieces):
            best = int(sims[row].argmax())
            real = sims[row].copy()
            if general is not None:
                real[general] = -1.0
            best_real = int(real.argmax())
            gold = piece["aspect"]
            rows.append({
                "language": language, "split": review["split"], "rating": review["rating"],
                "gold": gold, "polarity": piece["polarity"],
                "best": keys[best], "best_sim": float(sims[row, best]),
                "real": keys[best_real], "real_sim": float(real[best_real]),
                "gap": float(gaps[row, keys.index(gold)]) if gold else 0.0})
    return rows


def _predict(row: dict, threshold: float, with_general: bool = True) -> str | None:
    key, sim = (row["best"], row["best_sim"]) if with_general else (row["real"], row["real_sim"])
    return key if sim >= threshold and key != GENERAL else None


def assignment(rows: list[dict], threshold: float, with_general: bool = True) -> dict:
    predicted = [_predict(r, threshold, with_general) for r in rows]
    gold = [r["gold"] for r in rows]
    correct = sum(p == g for p, g in zip(predicted, gold))
    aspects = sorted({g for g in gold if g})
    f1s = []
    for aspect in aspects:
        tp = sum(p == g == aspect for p, g in zip(predicted, gold))
        fp = sum(p == aspect != g for p, g in zip(predicted, gold))
        fn = sum(g == aspect != p for p, g in zip(predicted, gold))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    said = [p is not None for p in predicted]
    has = [g is not None for g in gold]
    detected = sum(s and h for s, h in zip(said, has))
    return {"pieces": len(rows), "accuracy": _r(correct / max(len(rows), 1)),
            "macro_f1": _r(sum(f1s) / max(len(f1s), 1)),
            "aspect_precision": _r(detected / max(sum(said), 1)),
            "aspect_recall": _r(detected / max(sum(has), 1))}


def tune_threshold(rows: list[dict], with_general: bool = True) -> float:
    """The highest threshold with the best accuracy: of equally good ones, the one that says
    "no aspect" most readily (the copy check then flags least on a doubtful match)."""
    return max(THRESHOLDS, key=lambda t: (assignment(rows, t, with_general)["accuracy"], t))


def polarity(rows: list[dict], weight: float, scale: float) -> float | None:
    """Accuracy of the blended sentiment's sign on gold-aspect pieces labelled pos or neg."""
    judged = [r for r in rows if r["gold"] and r["polarity"] in ("pos", "neg")]
    if not judged:
        return None
    right = 0
    for r in judged:
        own = max(-1.0, min(1.0, r["gap"] / scale))
        value = sentence_sentiment(own, r["rating"], weight)
        right += (value > 0) == (r["polarity"] == "pos") and value != 0
    return _r(right / len(judged))


def reviews_level(model: AspectModel, reviews: list[dict], split_clauses: bool = True) -> dict:
    """Micro P/R/F1 of each review's set of mentioned aspects, the pipeline splitting."""
    tp = fp = fn = 0
    for review in reviews:
        language = aspect_lexicon(review["language"]).language
        pieces = (clauses if split_clauses else _sentences)(review["text"], language)
        said = {p.aspect for p in model.classify(pieces, language) if p.aspect}
        gold = {p["aspect"] for p in review["pieces"] if p["aspect"]}
        tp, fp, fn = tp + len(said & gold), fp + len(said - gold), fn + len(gold - said)
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"reviews": len(reviews), "precision": _r(precision), "recall": _r(recall),
            "f1": _r(2 * precision * recall / max(precision + recall, 1e-9))}


def _sentences(text: str, _language: str) -> list[str]:
    return sentences(text)


def _r(value: float) -> float:
    return round(float(value), 3)


# ---- the report ---------------------------------------------------------------------------


def evaluate(model: AspectModel, reviews: list[dict] | None = None) -> dict[str, Any]:
    reviews = reviews if reviews is not None else load_labelled()
    rows = _scored(model, reviews)
    tune = [r for r in rows if r["split"] == "a"]
    test = [r for r in rows if r["split"] == "b"]
    threshold = tune_threshold(tune)
    bare = tune_threshold(tune, with_general=False)
    weight, scale = max(((w, s) for w in WEIGHTS for s in SCALES),
                        key=lambda ws: (polarity(tune, *ws) or 0.0, -abs(ws[0] - 0.5)))
    own_scale = max(SCALES, key=lambda s: polarity(tune, 0.0, s) or 0.0)
    tuned = model.with_options(model.options.model_copy(update={
        "threshold": threshold, "polarity_scale": scale}))
    test_reviews = [r for r in reviews if r["split"] == "b"]
    report: dict[str, Any] = {
        "labelled": {"reviews": len(reviews), "pieces": len(rows),
                     "languages": dict(Counter(r["language"] for r in reviews)),
                     "aspects": dict(Counter(r["gold"] or "none" for r in rows))},
        "tuned_on_a": {"threshold": threshold, "rating_weight": weight,
                       "polarity_scale": scale, "threshold_without_general": bare},
        "assignment_b": assignment(test, threshold),
        "assignment_b_by_language": {
            language: assignment([r for r in test if r["language"] == language], threshold)
            for language in sorted({r["language"] for r in test})},
        "assignment_b_without_general_seeds": assignment(test, bare, with_general=False),
        "assignment_a": assignment(tune, threshold),
        "reviews_b": reviews_level(tuned, test_reviews),
        "reviews_b_sentences_only": reviews_level(tuned, test_reviews, split_clauses=False),
        "polarity_b": {"stars_only": polarity(test, 1.0, scale),
                       "clause_only": polarity(test, 0.0, own_scale),
                       "blend": polarity(test, weight, scale)},
        "confusions_b": _confusions(test, threshold),
    }
    copy = load_labelled(labelled_path("copy_praise.jsonl"))
    copy_a = [c for c in copy if c["split"] == "a"]
    copy_b = [c for c in copy if c["split"] == "b"]

    def at(value: float) -> AspectModel:
        return tuned.with_options(tuned.options.model_copy(update={"praise_above": value}))

    above = max(PRAISE_ABOVE, key=lambda v: (praise(at(v), copy_a)["f1"], v))
    report["tuned_on_a"]["praise_above"] = above
    report["copy_praise_b"] = {"all": praise(at(above), copy_b)} | {
        language: praise(at(above), [c for c in copy_b if c["language"] == language])
        for language in sorted({c["language"] for c in copy_b})}
    report["copy_praise_b_at_zero"] = praise(at(0.0), copy_b)
    return report


def _confusions(rows: list[dict], threshold: float, top: int = 8) -> list[list]:
    wrong = Counter((r["gold"] or "none", _predict(r, threshold) or "none") for r in rows
                    if _predict(r, threshold) != r["gold"])
    return [[gold, said, count] for (gold, said), count in wrong.most_common(top)]


def format_report(report: dict[str, Any]) -> str:
    tuned = report["tuned_on_a"]
    labelled = report["labelled"]
    lines = [(f"labelled: {labelled['reviews']} reviews, {labelled['pieces']} pieces "
              f"{labelled['languages']}"),
             (f"tuned on split a: threshold {tuned['threshold']}, polarity scale "
              f"{tuned['polarity_scale']}, rating weight {tuned['rating_weight']}"), "",
             "assignment of labelled pieces (split b):"]

    def line(name: str, m: dict) -> str:
        return (f"  {name:<28} n={m['pieces']:<4} accuracy {m['accuracy']:.3f}  macro-F1 "
                f"{m['macro_f1']:.3f}  aspect P {m['aspect_precision']:.3f} "
                f"R {m['aspect_recall']:.3f}")

    lines.append(line("all", report["assignment_b"]))
    for language, m in report["assignment_b_by_language"].items():
        lines.append(line(language, m))
    lines.append(line("without general seeds", report["assignment_b_without_general_seeds"]))
    lines.append(line("(split a, tuned on)", report["assignment_a"]))
    lines.append("\naspects mentioned per review (split b, pipeline splitting):")
    for name, key in (("clauses", "reviews_b"), ("sentences only", "reviews_b_sentences_only")):
        m = report[key]
        lines.append(f"  {name:<28} P {m['precision']:.3f}  R {m['recall']:.3f}  "
                     f"F1 {m['f1']:.3f}")
    pol = report["polarity_b"]
    lines.append(f"\npolarity of aspect pieces (split b): stars only {pol['stars_only']}, "
                 f"clause only {pol['clause_only']}, blend {pol['blend']}")
    lines.append(f"\ncopy praise (split b, praise above {tuned['praise_above']:+.2f}, tuned on "
                 "split a):")
    for language, m in report["copy_praise_b"].items():
        lines.append(f"  {language:<28} n={m['sentences']:<4} P {m['precision']:.3f}  "
                     f"R {m['recall']:.3f}")
    m = report["copy_praise_b_at_zero"]
    lines.append(f"  {'both, praise above +0.00':<28} n={m['sentences']:<4} "
                 f"P {m['precision']:.3f}  R {m['recall']:.3f}")
    lines.append("most frequent confusions (gold -> said): " + ", ".join(
        f"{g}->{s} {n}" for g, s, n in report["confusions_b"]))
    return "\n".join(lines)


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=lambda v: v.item() if isinstance(
        v, np.generic) else str(v))
