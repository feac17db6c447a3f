"""`shopwright campaign run` for real: the demo shop, the embedded model, a subprocess killed
with SIGKILL and run again, a one-click unsubscribe over HTTP while the job runs, on SQLite and
on a throwaway PostgreSQL; and the same job on a local Ray."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import serving
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = """\
name: {name}
channel: email
audience: {{all: true}}
products: {{strategy: recommended, count: 3}}
template: email
candidates: 1
discount: {{code: AUTUMN10, percent: 10, ends: 2026-12-31}}
"""
LIMIT = 6


def copy_shop(demo_context, target: Path) -> Path:
    """The demo shop's data folder (index, trained recommender, SQLite file), copied so this
    test can write to it; the SQLite file through its backup API (it is in WAL mode)."""
    demo_context.recommender.info()  # trained and saved before copying
    source = demo_context.settings.data_dir
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("shop.db*", "campaigns"))
    with sqlite3.connect(source / "shop.db") as src, sqlite3.connect(target / "shop.db") as dst:
        src.backup(dst)
    return target


def fill_postgres(demo_context, demo_files, url: str, target: Path) -> Path:
    """The demo shop in PostgreSQL: the same files ingested, the index and model copied."""
    from shop.ingest import ingest_file, ingest_kb
    from shop.settings import Settings
    from shop.store import Store

    demo_context.recommender.info()
    source = demo_context.settings.data_dir
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("shop.db*", "campaigns"))
    store = Store(Settings(data_dir=target, database_url=url))
    for kind in ("catalog", "customers", "events"):
        ingest_file(store, kind, demo_files[kind], progress=False)
    ingest_kb(store, demo_files["kb"], progress=False)
    return target


def db(url: str):
    return create_engine(url, poolclass=NullPool)  # no idle connection left behind


def expected_audience(url: str) -> list[str]:
    """The first LIMIT customers by id who may get marketing, asked of the database directly."""
    with db(url).connect() as connection:
        return [row[0] for row in connection.execute(text(
            "SELECT id FROM customers WHERE marketing_consent AND unsubscribed_at IS NULL "
            "ORDER BY id LIMIT :n"), {"n": LIMIT})]


def campaign_rows(url: str, name: str) -> dict[str, tuple]:
    with db(url).connect() as connection:
        return {row[0]: tuple(row[1:]) for row in connection.execute(text(
            "SELECT customer_id, state, updated_at, output FROM campaign_rows "
            "WHERE campaign_id = :name"), {"name": name})}


def generated(url: str, name: str) -> int:
    return sum(1 for state, *_ in campaign_rows(url, name).values() if state == "generated")


def start(data_dir: Path, model_cache: Path, url: str, file: Path, out: Path):
    env = {**os.environ, "SHOPWRIGHT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
           "SHOPWRIGHT_MODEL_CACHE_DIR": str(model_cache), "SHOPWRIGHT_DATABASE_URL": url,
           "TOKENIZERS_PARALLELISM": "false",
           # every customer's email goes through the model (not only English ones'), so the
           # run stays slow enough for an unsubscribe to land while rows are still pending
           "SHOPWRIGHT_LLM_LANGUAGES": "en,de,fr,nl,sv,es"}
    command = [sys.executable, "-m", "ui.cli", "campaign", "run", str(file),
               "--limit", str(LIMIT), "--batch-size", "2", "--out", str(out)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(condition, process, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"campaign run exited early:\n{process.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, "campaign run made no progress"
        time.sleep(0.2)


def unsubscribe_link(settings, customer_id: str) -> str:
    """The List-Unsubscribe URL of an email generated for this customer (a one-off preview;
    the header comes from the same code as every campaign email's)."""
    from gen.engines import FakeEngine
    from gen.service import GenService
    from shop.store import Store

    store = Store(settings)
    draft = GenService(settings, store, engine=FakeEngine(default="")).emails(
        [customer_id], save=False)[0]
    message = message_from_bytes(bytes(draft.to_message(settings)), policy=policy.default)
    return str(message["List-Unsubscribe"]).strip().strip("<>")


def kill_unsubscribe_and_rerun(tmp_path, model_cache, data_dir: Path, url: str) -> None:
    from shop.settings import Settings
    from ui.app import create_app
    from ui.context import ShopContext

    file = tmp_path / "autumn.yaml"
    file.write_text(CAMPAIGN.format(name="autumn"))
    out = tmp_path / "out"
    audience = expected_audience(url)
    victim = audience[-1]  # written last, so still pending when they unsubscribe
    # 1. killed with SIGKILL right after its first batch was committed
    first = start(data_dir, model_cache, url, file, out)
    wait_for(lambda: generated(url, "autumn") >= 2, first)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=60) == -signal.SIGKILL
    before = campaign_rows(url, "autumn")
    committed = {c: row for c, row in before.items() if row[0] == "generated"}
    assert 2 <= len(committed) < LIMIT and set(before) == set(audience)
    # 2. the same command again; the victim unsubscribes over HTTP while it runs
    settings = Settings(data_dir=data_dir, database_url=url, model_cache_dir=model_cache)
    link = unsubscribe_link(settings, victim)
    second = start(data_dir, model_cache, url, file, out)
    with serving(create_app(ShopContext(settings), with_studio=False)) as base:
        parts = urlsplit(link)
        wait_for(lambda: generated(url, "autumn") > len(committed), second)
        response = httpx.post(f"{base}{parts.path}?{parts.query}",
                              data={"List-Unsubscribe": "One-Click"}, timeout=30)
        assert response.status_code == 200, response.text
        output, _ = second.communicate(timeout=600)
    assert second.returncode == 0, output[-3000:]
    # exactly one row per eligible customer; committed rows never generated again
    after = campaign_rows(url, "autumn")
    assert sorted(after) == sorted(audience)
    assert all(after[c] == row for c, row in committed.items())
    assert after[victim][0] == "skipped"
    assert all(after[c][0] == "generated" for c in audience if c != victim)
    emails = [json.loads(line) for line in (out / "emails.jsonl").read_text().splitlines()]
    sent = [e["customer_id"] for e in emails]
    assert sent == [c for c in audience if c != victim]  # once each, in id order, no victim
    assert sorted(p.stem for p in (out / "eml").glob("*.eml")) == sent
    assert all(e["subject"] and e["html"] and victim not in e["text"] for e in emails)
    codes = {code for e in emails for code in re.findall(r"\b[A-Z]{3,}[0-9]+\b", e["text"])}
    assert codes <= {"AUTUMN10"}  # the campaign's code is the only one the text may name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["states"]["generated"] == LIMIT - 1 and summary["states"]["skipped"] == 1
    assert sum(summary["sources"].values()) == LIMIT - 1
    with db(url).connect() as connection:
        others = connection.execute(text(
            "SELECT count(*) FROM campaign_rows r JOIN customers c ON c.id = r.customer_id "
            "WHERE NOT c.marketing_consent")).scalar()
    assert others == 0


def test_sqlite_kill_9_then_rerun_gives_exactly_one_email_each(demo_context, model_cache,
                                                               tmp_path):
    data_dir = copy_shop(demo_context, tmp_path / "shop")
    url = f"sqlite:///{data_dir / 'shop.db'}"
    kill_unsubscribe_and_rerun(tmp_path, model_cache, data_dir, url)


def test_postgres_kill_9_then_rerun_gives_exactly_one_email_each(demo_context, demo_files,
                                                                 model_cache, tmp_path,
                                                                 pg_database_url):
    data_dir = fill_postgres(demo_context, demo_files, pg_database_url, tmp_path / "shop")
    kill_unsubscribe_and_rerun(tmp_path, model_cache, data_dir, pg_database_url)


def test_campaign_on_local_ray(demo_context, model_cache, tmp_path):
    pytest.importorskip("ray", reason="Ray is the scale extra: pip install '.[scale]'")
    from functools import partial

    from campaigns.runner import run_campaign
    from campaigns.spec import parse_campaign
    from ui.cli.campaign import build_job

    data_dir = copy_shop(demo_context, tmp_path / "shop")
    spec = parse_campaign(CAMPAIGN.format(name="ray-autumn"))
    settings = {"data_dir": str(data_dir), "model_cache_dir": str(model_cache)}
    factory = partial(build_job, settings, spec.model_dump(mode="json"), 2)
    summary = run_campaign(factory, tmp_path / "out", limit=3, engine="ray", progress=False)
    assert summary["states"]["generated"] == 3 and summary["last_run"]["engine"] == "ray"
    url = f"sqlite:///{data_dir / 'shop.db'}"
    assert sorted(campaign_rows(url, "ray-autumn")) == expected_audience(url)[:3]
    emails = (tmp_path / "out" / "emails.jsonl").read_text().splitlines()
    assert len(emails) == 3


def test_campaign_through_an_openai_compatible_server(demo_context, model_cache, real_llm,
                                                      tmp_path):
    """SHOPWRIGHT_LLM_ENGINE=openai: the rows go to a vLLM-like server (the real embedded model
    behind it, batching concurrent requests as vLLM does) as concurrent requests."""
    from functools import partial

    from llm_server import vllm_like_app

    from campaigns.runner import run_campaign
    from campaigns.spec import parse_campaign
    from gen.engines.transformers.engine import TransformersEngine
    from gen.serving.scheduler import BatchScheduler, ScheduledEngine
    from ui.cli.campaign import build_job

    model = TransformersEngine(real_llm)
    served = ScheduledEngine(model, BatchScheduler(model, max_wait_ms=200,
                                                   default_timeout_s=600))
    app = vllm_like_app(served, served_model_name="smollm2")
    data_dir = copy_shop(demo_context, tmp_path / "shop")
    spec = parse_campaign(CAMPAIGN.format(name="via-server"))
    with serving(app) as base:
        settings = {"data_dir": str(data_dir), "model_cache_dir": str(model_cache),
                    "llm_engine": "openai", "llm_base_url": f"{base}/v1",
                    "llm_model": "smollm2", "llm_concurrency": 4,
                    "llm_timeout_s": 900,  # a busy 2-core CI machine is slow
                    # the server is declared for every language, so each row is a request
                    "llm_languages": ["en", "de", "fr", "nl", "sv", "es"]}
        factory = partial(build_job, settings, spec.model_dump(mode="json"), 3)
        summary = run_campaign(factory, tmp_path / "out", limit=3, progress=False)
    served.scheduler.close()
    assert summary["states"]["generated"] == 3
    stats = app.state.stats
    assert stats.requests >= 3 and stats.max_in_flight > 1  # one batch, sent concurrently
    assert stats.bodies[0]["continue_final_message"] is True
    emails = [json.loads(line) for line in (tmp_path / "out" / "emails.jsonl").open()]
    assert [e["model"] for e in emails] == ["smollm2"] * 3
