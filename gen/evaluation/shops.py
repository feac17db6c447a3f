"""`shopwright eval chat --shop NAME`: the chat measured on whole shops, each in its own
temporary data dir, with tuning and test splits and an independent judge (gen/evaluation/gold.py).

A shop folder (data/eval/shops/NAME) holds shop.toml (name, url, language, locale, currency,
postal_address), catalog.csv, kb/*.md and cases.jsonl, one case a line:

    {"id", "kind": "support", "question", "doc", "facts": [[form, ...], ...], "yes_no"?, "split"}
    {"id", "kind": "shopping", "question", "available", "products": [ids], ..., "split"}
    {"id", "kind": "handoff", "question", "split"}

`demo` is the generated demo shop with data/eval/chat_cases.jsonl; its cases carry no split, so
each gets one from a hash of its id (about half each, the same on every run).
"""

from __future__ import annotations

import hashlib
import time
import tomllib
from pathlib import Path
from typing import Any

from gen.evaluation.cases import read_cases
from gen.evaluation.gold import KINDS, expected_kind, judge
from shop.errors import InvalidInput
from shop.resources import data_dir

SHOPS_DIR = data_dir() / "eval" / "shops"
DEMO_CASES = data_dir() / "eval" / "chat_cases.jsonl"
SPLITS = ("test", "tune", "all")
# shop.toml key -> Settings field
_SETTINGS = {"name": "shop_name", "url": "shop_url", "language": "shop_language",
             "postal_address": "shop_postal_address"}


def shop_names() -> list[str]:
    return ["demo"] + sorted(p.name for p in SHOPS_DIR.iterdir() if (p / "cases.jsonl").is_file())


def shop_folder(name: str) -> Path:
    if name not in shop_names() or name == "demo":
        raise InvalidInput(f"{name!r} is not an eval shop; choose one of {', '.join(shop_names())}")
    return SHOPS_DIR / name


def shop_config(name: str) -> dict[str, Any]:
    """shop.toml of a shop folder; for the demo, its identity (what `demo init` writes)."""
    if name == "demo":
        from shop.demo import DEMO_IDENTITY

        return {key: DEMO_IDENTITY[field] for key, field in _SETTINGS.items()
                if field in DEMO_IDENTITY}
    return tomllib.loads((shop_folder(name) / "shop.toml").read_text(encoding="utf-8"))


def split_of(case: dict) -> str:
    if case.get("split"):
        return case["split"]
    return "test" if hashlib.sha1(case["id"].encode()).digest()[0] % 2 else "tune"


def load_cases(name: str, split: str = "test") -> list[dict]:
    if split not in SPLITS:
        raise InvalidInput(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    path = DEMO_CASES if name == "demo" else shop_folder(name) / "cases.jsonl"
    cases = read_cases(
        path, lambda case: expected_kind(case) in KINDS and bool(case.get("question"))
        and bool(case.get("id")), f"needs an id, a question and a kind ({', '.join(KINDS)})")
    return [case for case in cases if split in ("all", split_of(case))]


def shop_settings(name: str, settings: Any, workdir: Path) -> Any:
    """`settings` for shop `name` loaded into `workdir` (models still cached where `settings`
    keeps them); shop.toml's keys fill only the Settings fields that exist."""
    config = shop_config(name)
    update = {"data_dir": Path(workdir), "database_url": None,
              "model_cache_dir": settings.models_dir}
    update |= {field: config[key] for key, field in _SETTINGS.items()
               if key in config and field in type(settings).model_fields}
    return settings.model_copy(update=update)


def shop_files(name: str, workdir: Path) -> list[tuple[str, Path]]:
    """(kind, path) to ingest, in order: the demo is generated into `workdir` first."""
    if name == "demo":
        from shop.demo import generate_demo

        files = generate_demo(Path(workdir) / "files", seed=7)
        return [(kind, files[kind]) for kind in ("catalog", "customers", "events", "kb")]
    folder = shop_folder(name)
    return [("catalog", folder / "catalog.csv"), ("kb", folder / "kb")]


def run_shop(context: Any, cases: list[dict], mode: str, locale: str | None = None,
             progress: bool = False, service: Any = None) -> list:
    """Ask every case through the context's GenService (nothing stored) and judge each reply."""
    from tqdm import tqdm

    from gen.sources import kb_documents
    from gen.tasks.chat import ChatRequest

    service = service or context.generation
    language = context.settings.shop_language
    documents = {doc_id: body for doc_id, _, body, _ in kb_documents(context.store)}
    verdicts = []
    for case in tqdm(cases, desc=f"chat eval ({mode})", disable=not progress, unit="q"):
        started = time.perf_counter()
        reply = service.chat(ChatRequest(message=case["question"], max_new_tokens=120),
                             save=False, mode=mode, lane="batch")
        verdict = judge(case, reply, documents, language=language, locale=locale or language)
        verdict.seconds = time.perf_counter() - started
        verdicts.append(verdict)
    return verdicts


def format_report(reports: dict[str, dict[str, Any]]) -> str:
    """One column per shop: the shares, routing per kind, false statements."""
    shops = list(reports)
    rows = [("cases", "cases"), ("key facts", "key_fact_share"),
            ("right page cited", "citation_share"), ("shopping right", "shopping_share"),
            ("routing", "routing_accuracy")]
    lines = [f"{'':<24}" + "".join(f"{s:>12}" for s in shops)]

    def cell(value):
        if value is None:
            return f"{'-':>12}"
        return f"{value:>12d}" if isinstance(value, int) else f"{value:>11.0%} "

    for label, key in rows:
        lines.append(f"{label:<24}" + "".join(cell(reports[s][key]) for s in shops))
    for kind in KINDS:
        lines.append(f"{'  routing ' + kind:<24}"
                     + "".join(cell(reports[s]["routing_by_kind"][kind]) for s in shops))
    for label, key in (("false statements", "false_statements"),
                       ("answers with false", "answers_with_false_statements")):
        lines.append(f"{label:<24}" + "".join(cell(reports[s][key]) for s in shops))
    return "\n".join(lines)
