"""`shopwright eval chat`: fact accuracy, citations and false statements of the assistant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ui.context import default_context


def eval_chat(
    mode: Annotated[str, typer.Option(help="extractive, generative or both")] = "both",
    cases: Annotated[Path | None, typer.Option(help="Case file (JSONL)")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N cases")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    failures: Annotated[bool, typer.Option(help="List every wrong or false answer")] = False,
    record: Annotated[bool, typer.Option(help="Record the better mode as this model's default "
                                              "(used when SHOPWRIGHT_CHAT_MODE=auto)")] = True,
    shop: Annotated[list[str] | None, typer.Option(
        help="An eval shop (demo or a folder of data/eval/shops), loaded into a temporary "
             "data dir and judged against gold pages; repeat for several")] = None,
    split: Annotated[str, typer.Option(help="With --shop: test, tune or all")] = "test",
    show_misses: Annotated[bool, typer.Option(help="With --shop: list every missed case")] = False,
    history: Annotated[bool, typer.Option(
        help="With --shop: ingest the shop's past support tickets too (data/eval/support), "
             "as vetted answers and the router's examples")] = False,
) -> None:
    """Ask the shop assistant every case and score what it says, per answer mode.

    Both modes run through the same service as the API. With both measured, the better one
    (fewest false statements, then most facts right) becomes the model's `auto` mode.
    With --shop, each shop is measured on its own (its split, one mode; both: extractive).
    """
    if shop:
        _eval_shops(shop, "extractive" if mode == "both" else mode, split, limit, as_json,
                    show_misses, history)
        return
    from gen.evaluation.chat import (
        DEFAULT_CASES,
        better_mode,
        format_table,
        load_cases,
        run,
        summarize,
    )
    from gen.tasks.chat_mode import MODES, record_mode

    modes = MODES if mode == "both" else (mode,)
    if any(m not in MODES for m in modes):
        raise typer.BadParameter(f"mode must be one of extractive, generative, both; got {mode}")
    chosen = load_cases(cases or DEFAULT_CASES)[:limit]
    context = default_context()
    service = context.generation
    results = {m: run(service, chosen, m, progress=not as_json) for m in modes}
    scores = {m: summarize(r) for m, r in results.items()}
    if record and len(modes) == 2:
        model = service.engine.model_name
        best = better_mode(scores)
        path = record_mode(context.settings, model, best, scores[best])
        if not as_json:
            typer.echo(f"recorded {best} as the chat mode of {model} in {path}")
    if as_json:
        typer.echo(json.dumps({"scores": scores, "cases": {
            m: [r.__dict__ for r in rs] for m, rs in results.items()}}, indent=2))
        return
    typer.echo(f"\n{len(chosen)} cases from {cases or DEFAULT_CASES}, model "
               f"{service.engine.model_name}")
    typer.echo(format_table(scores))
    if failures:
        for m, rs in results.items():
            for r in rs:
                if not r.fact or r.false_statements or r.cited is False:
                    typer.echo(f"\n[{m}] {r.id} {r.question}\n  -> {r.answer[:300]}")
                    for problem in r.false_statements:
                        typer.echo(f"  FALSE {problem}")


def _eval_shops(names: list[str], mode: str, split: str, limit: int | None, as_json: bool,
                show_misses: bool, history: bool = False) -> None:
    import tempfile
    from dataclasses import asdict

    from gen.evaluation.gold import misses, summarize
    from gen.evaluation.shops import format_report, load_cases, run_shop, shop_config
    from gen.tasks.chat_mode import MODES

    if mode not in MODES:
        raise typer.BadParameter(f"mode must be one of extractive, generative; got {mode}")
    settings = default_context().settings
    reports, verdicts = {}, {}
    for name in names:
        cases = load_cases(name, split)[:limit]
        with tempfile.TemporaryDirectory(prefix=f"eval-{name}-") as workdir:
            context = shop_context(name, settings, Path(workdir), history)
            verdicts[name] = run_shop(context, cases, mode, shop_config(name).get("locale"),
                                      progress=not as_json)
            context.store.engine.dispose()
        reports[name] = {"mode": mode, "split": split, **summarize(verdicts[name])}
    if as_json:
        typer.echo(json.dumps({"shops": reports, "cases": {
            name: [asdict(v) for v in vs] for name, vs in verdicts.items()}}, indent=2,
            ensure_ascii=False))
        return
    typer.echo(f"\n{split} split, {mode} mode; false statements judged against the gold page")
    typer.echo(format_report(reports))
    if show_misses:
        for name, vs in verdicts.items():
            for v in (v for v in vs if misses(v)):
                typer.echo(f"\n[{name}] {v.id} ({v.kind}, routed {v.route}) {v.question}"
                           f"\n  -> {v.answer[:300]}")
                if v.fact is False:
                    typer.echo("  MISSED key fact")
                if v.cited is False:
                    typer.echo("  MISSED gold page citation")
                for problem in v.false_statements:
                    typer.echo(f"  FALSE {problem}")


def _vectors_fit(name: str, settings) -> bool:
    """Whether the embedder knows the language of eval shop `name`'s pages."""
    from gen.evaluation.shops import shop_config

    return shop_config(name).get("language", "en") in settings.embed_languages


def shop_context(name: str, settings, workdir: Path, history: bool = False):
    """A ShopContext over eval shop `name`, ingested into `workdir` with the usual
    after-ingest hooks (search indexes); history: its past support tickets too, where it has
    them (data/eval/support/NAME/history.csv)."""
    from gen.evaluation.shops import shop_files, shop_settings
    from gen.evaluation.vetted import support_folder
    from shop.ingest import ingest_file, ingest_kb
    from ui.context import ShopContext

    context = ShopContext(shop_settings(name, settings, workdir))
    files = shop_files(name, workdir)
    tickets = support_folder(name) / "history.csv"
    if history and tickets.is_file():
        files.append(("support-history", tickets))
    for kind, path in files:
        report = (ingest_kb(context.store, path, progress=False) if kind == "kb"
                  else ingest_file(context.store, kind, path, progress=False))
        context.after_ingest(report)
    return context


def eval_picker(
    shop: Annotated[list[str] | None, typer.Option(
        help="Eval shops to measure (default: every one); repeat for several")] = None,
    fit: Annotated[bool, typer.Option(
        help="Fit the weights on the tune splits and write gen/tasks/picker_weights.toml")]
        = False,
    history: Annotated[bool, typer.Option(
        help="Fit on the shops' past support tickets instead (the shops with a history in "
             "data/eval/support), report both splits, write nothing")] = False,
) -> None:
    """How often the answer picker's best unit holds the key fact, per shop and split.

    With --fit, the weights are fitted on the tune splits of the shops measured and written
    to gen/tasks/picker_weights.toml; the test splits are only reported, never fitted on.
    """
    import tempfile

    from gen.evaluation import picker
    from gen.evaluation.shops import load_cases, shop_names
    from gen.tasks.picker import fitted_weights

    names = shop or shop_names()
    settings = default_context().settings
    if history:
        _picker_from_history(names, settings)
        return
    cases: list = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"eval-{name}-") as workdir:
            context = shop_context(name, settings, Path(workdir))
            for split in ("tune", "test"):
                cases += picker.collect(name, split, context, load_cases(name, split))
            context.store.engine.dispose()
    fitted_words = {name: picker.without_dense([c for c in cases if c.shop == name])
                    for name in names if not _vectors_fit(name, settings)}
    cases = [c for c in cases if c.shop not in fitted_words] \
        + [c for shop_cases in fitted_words.values() for c in shop_cases]
    current, current_words = fitted_weights(), fitted_weights(words_only=True)
    tune = [c for c in cases if c.split == "tune"]
    weights = picker.fit([c for c in tune if c.shop not in fitted_words], current) if fit \
        else current
    # every shop's tune split, as a shop in a language the embedder does not know sees it
    tune_words = picker.without_dense(tune)
    words = picker.fit(tune_words, {**current_words, "lexical": 1.0}, hold="lexical") if fit \
        else current_words
    report = []
    for name in names:
        by_words = name in fitted_words
        for split in ("tune", "test"):
            chosen = [c for c in cases if c.shop == name and c.split == split]
            old, new = (current_words, words) if by_words else (current, weights)
            before, after = picker.top1(chosen, old)[0], picker.top1(chosen, new)[0]
            report.append(f"{name} {split} ({len(chosen)} cases{', words only' if by_words else ''}):"
                          f" top-1 {before:.0%}" + (f" -> {after:.0%}" if fit else ""))
    typer.echo("\n".join(report))
    typer.echo("weights: " + ", ".join(f"{k} {v:g}" for k, v in weights.items()))
    typer.echo("words only: " + ", ".join(f"{k} {v:g}" for k, v in words.items()))
    if fit:
        by_vectors = [name for name in names if name not in fitted_words]
        counted = sum(c.shop in by_vectors for c in tune)
        note = [f"weights: tune splits of {', '.join(by_vectors)} ({counted} cases);",
                f"[words_only]: tune splits of {', '.join(names)}, dense left out ({len(tune)});",
                "top-1 before -> after fitting (test splits only reported):"]
        path = picker.write_weights(weights, words, note + report)
        typer.echo(f"wrote {path}")


def _picker_from_history(names: list[str], settings) -> None:
    """The picker fitted on past tickets' pairs (gen/evaluation/picker.py collect_history),
    against the current weights, on every eval case of the shops that have a history."""
    import tempfile

    from gen.evaluation import picker
    from gen.evaluation.shops import load_cases
    from gen.evaluation.vetted import load_history, support_folder
    from gen.tasks.picker import fitted_weights

    names = [n for n in names if (support_folder(n) / "history.csv").is_file()
             and _vectors_fit(n, settings)]
    if not names:
        raise typer.BadParameter("no eval shop with a support history (data/eval/support)")
    pairs, cases = [], []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"eval-{name}-") as workdir:
            context = shop_context(name, settings, Path(workdir))
            tickets, _ = load_history(support_folder(name))
            pairs += picker.collect_history(name, context, tickets)
            for split in ("tune", "test"):
                cases += picker.collect(name, split, context, load_cases(name, split))
            context.store.engine.dispose()
    current = fitted_weights()
    learned = picker.fit(pairs, current)
    typer.echo(f"{len(pairs)} pairs from the support histories of {', '.join(names)}")
    for name in names:
        for split in ("tune", "test"):
            chosen = [c for c in cases if c.shop == name and c.split == split]
            before, after = picker.top1(chosen, current)[0], picker.top1(chosen, learned)[0]
            typer.echo(f"{name} {split} ({len(chosen)} cases): top-1 {before:.0%} with the "
                       f"tune-split weights, {after:.0%} with the history's")
    typer.echo("history weights: " + ", ".join(f"{k} {v:g}" for k, v in learned.items()))
