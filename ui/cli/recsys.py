"""`shopwright recsys train|recommend|evaluate|retrain` and `shopwright segments`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from shop.errors import InvalidInput
from ui.context import default_context

app = typer.Typer(help="Recommendations: train on any dataset, recommend, evaluate, retrain.",
                  no_args_is_help=True)

Interactions = Annotated[Path | None, typer.Option(
    "--interactions", help="CSV with user_id,item_id[,timestamp][,weight|event] "
    "(the demo's events.csv works as-is)")]
Items = Annotated[Path | None, typer.Option(
    "--items", help="CSV with item_id (or id) plus text columns (title, description, ...)")]


def _encoder():
    from recsys.models.content import minilm_encoder

    settings = default_context().settings
    return minilm_encoder(settings, cache_dir=settings.data_dir / "recsys-cache")


def format_table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _progress() -> bool:
    return sys.stderr.isatty()


@app.command("train")
def train(
    interactions: Interactions = None,
    items: Items = None,
    model: Annotated[str, typer.Option(help="A model name, or 'auto': the best by "
                                            "NDCG@10 on a temporal split")] = "auto",
    out: Annotated[Path, typer.Option("--out", help="Folder to write the model to")] = Path(
        "recsys-model"),
    half_life_days: Annotated[float, typer.Option(help="Time decay; 0 turns it off (in auto "
                                                   "mode, where tuning starts)")] = 60.0,
) -> None:
    """Fit a recommender on interaction files and save it to OUT."""
    from recsys.interactions import InteractionOptions, read_interactions, read_items
    from recsys.training import save_bundle
    from recsys.training import train as fit

    if interactions is None:
        raise InvalidInput("--interactions FILE is required")
    options = InteractionOptions(half_life_days=half_life_days or None)
    log = read_interactions(interactions, options)
    table = read_items(items) if items else None
    bundle = fit(log, table, model, options, encoder=_encoder(), progress=_progress())
    save_bundle(bundle, out)
    meta = bundle.meta
    typer.echo(f"trained {meta['model']} ({meta['selected_by']}) on {meta['interactions']} "
               f"user-item pairs, {meta['users']} users, {meta['items']} items -> {out}")


@app.command("recommend")
def recommend(
    model: Annotated[Path, typer.Option("--model", help="A folder written by `recsys train`")],
    user: Annotated[str | None, typer.Option("--user", help="One user id")] = None,
    users: Annotated[Path | None, typer.Option(
        "--users", help="A file of user ids: one per line, or a CSV with a user_id column")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=1000)] = 10,
    explain: Annotated[bool, typer.Option("--explain", help="Add the evidence per item")] = False,
    include_seen: Annotated[bool, typer.Option(
        "--include-seen", help="Allow items the user interacted with in training")] = False,
    fmt: Annotated[str, typer.Option("--format", help="jsonl (one object per user)")] = "jsonl",
) -> None:
    """Top-k items per user, one JSON object per line on stdout."""
    from recsys.batch import recommend_users
    from recsys.training import load_bundle

    if fmt != "jsonl":
        raise InvalidInput(f"--format {fmt!r} is not supported; use jsonl")
    if (user is None) == (users is None):
        raise InvalidInput("give exactly one of --user ID or --users FILE")
    ids = [user] if user is not None else _read_user_ids(users)
    bundle = load_bundle(model)
    for row in recommend_users(bundle, ids, k, explain, exclude_seen=not include_seen):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_user_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    lines = [line for line in lines if line]
    if lines and "," in lines[0] or (lines and lines[0] in ("user_id", "customer_id")):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            column = "user_id" if "user_id" in (reader.fieldnames or []) else "customer_id"
            if column not in (reader.fieldnames or []):
                raise InvalidInput(f"{path}:1: missing required column: user_id")
            return [row[column].strip() for row in reader if row.get(column)]
    return lines


@app.command("evaluate")
def evaluate(
    interactions: Interactions = None,
    items: Items = None,
    store: Annotated[bool, typer.Option("--store", help="Evaluate on the store's events")] = False,
    split: Annotated[str, typer.Option(help="temporal (last 20% per user) or random")] = "temporal",
    k: Annotated[int, typer.Option("--k", min=1, max=200)] = 10,
    models: Annotated[str | None, typer.Option(help="Comma-separated model names")] = None,
    tune: Annotated[bool, typer.Option(
        "--tune/--no-tune", help="Choose each model's settings (its options, the time decay, "
        "the weights per event type) on a validation split cut from the training events")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every model side by side: precision, recall, NDCG (with a bootstrap 95% interval), hit
    rate at k, coverage, diversity and exposure (average popularity percentile of what is
    shown, Gini of exposure over the catalog, long-tail share), with the settings each was
    tuned to; then what an exposure penalty on the best model costs in NDCG and buys in
    evenness of exposure."""
    from recsys.evaluate import DEFAULT_MODELS, EvaluationOptions
    from recsys.evaluate import evaluate as run
    from recsys.interactions import InteractionOptions, read_interactions, read_items

    chosen = [m.strip() for m in models.split(",")] if models else list(DEFAULT_MODELS)
    options = EvaluationOptions(split=split, k=k, models=chosen, tune=tune)
    interaction_options = InteractionOptions()
    if store:
        from recsys.store_data import items_from_store, log_from_store

        context = default_context()
        log, table = log_from_store(context.store), items_from_store(context.store)
    elif interactions is not None:
        log = read_interactions(interactions, interaction_options)
        table = read_items(items) if items else None
    else:
        raise InvalidInput("give --interactions FILE or --store")
    result = run(log, table, options, interaction_options, encoder=_encoder(),
                 progress=not as_json)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    headers, rows = result.table()
    typer.echo(f"{result.users} users with held-out items ({split} split), k={k}")
    typer.echo(format_table(headers, rows))
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"best by ndcg@{k}: {result.best()}")
    if result.exposure:
        typer.echo(f"\nexposure knob on {result.best()} (a penalty on what the model over-shows, "
                   f"re-ranking a pool of {5 * k}):")
        typer.echo(format_table(*result.exposure_table()))
        choice = result.exposure_choice()
        if choice:
            typer.echo(f"within 3% of NDCG: penalty {choice['strength']} cuts the Gini of "
                       f"exposure by {-choice['gini_change']:.0%} at {choice['ndcg_change']:+.1%}"
                       " NDCG")


SHAPES = ("dense_ratings", "repeat_purchases", "sessions")


@app.command("sample-data")
def sample_data(
    shape: Annotated[str, typer.Argument(help="dense_ratings (ratings 1-5, many per user), "
                                              "repeat_purchases (customers reorder), or "
                                              "sessions (short browsing sessions)")],
    out: Annotated[Path, typer.Option("--out", help="Folder for interactions.csv and "
                                                    "items.csv")] = Path("sample-shop"),
    seed: Annotated[int, typer.Option(help="Same seed, same data")] = 0,
) -> None:
    """Write a generated shop of one shape as files `recsys train` and `recsys evaluate` read:
    data to try the recommenders on when your own is not at hand."""
    from recsys import shapes

    if shape not in SHAPES:
        raise InvalidInput(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    log, items = getattr(shapes, shape)(seed=seed)
    interactions, items_path = shapes.write_csv(log, items, out)
    typer.echo(f"{len(log):,} events -> {interactions}"
               + (f"; {len(items.ids):,} items -> {items_path}" if items_path else ""))
    typer.echo(f"try: shopwright recsys evaluate --interactions {interactions}"
               + (f" --items {items_path}" if items_path else ""))


@app.command("retrain")
def retrain(
    model: Annotated[str, typer.Option(help="A model name, or 'auto' (chosen by evaluation)")] =
    "auto",
) -> None:
    """Full fit of the served model on the store; saved to DATA_DIR/recsys. Customer scores
    (`shopwright customers scores`) are refreshed too."""
    context = default_context()
    meta = context.recommender.retrain(model, progress=_progress())
    typer.echo(f"serving {meta['model']} ({meta['selected_by']}); {meta['users']} customers, "
               f"{meta['items']} products, fit in {meta['fit_seconds']}s -> "
               f"{context.recommender.directory}")
    typer.echo(context.refresh_scores())


def segments(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Customer segments (K-Means on category affinity + recency/frequency/spend)."""
    from recsys.training import SEGMENT_HEADERS, segmentation_rows

    result = default_context().recommender.segments()
    if as_json:
        typer.echo(json.dumps(result["segments"], indent=2))
        return
    typer.echo(format_table(SEGMENT_HEADERS, segmentation_rows(result)))
