"""The store on a real PostgreSQL server (tests/pg.py starts a throwaway one per session).

Same code as SQLite, URL from settings. Skipped, with the reason, where no server can start.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from shop.ingest import IngestError, ingest_file, ingest_kb
from shop.schema import Campaign, CampaignRow, Customer, Event, KBDocument, Product
from shop.settings import Settings
from shop.store import MIGRATIONS_DIR, Store
from shop.upsert import upsert

KEY = ["campaign_id", "customer_id", "template_version"]


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def count(store, table) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(table))


@pytest.fixture
def pg_store(pg_database_url, tmp_path) -> Store:
    return Store(Settings(data_dir=tmp_path / "data", database_url=pg_database_url))


@pytest.fixture
def campaign(pg_store) -> str:
    with pg_store.session() as session:
        session.add(Campaign(id="spring", name="Spring sale"))
    return "spring"


def row(customer_id: str, state: str = "pending", version: str = "email@1") -> dict:
    now = datetime.now(UTC)
    return {"campaign_id": "spring", "customer_id": customer_id, "template_version": version,
            "state": state, "attempts": 0, "tokens": 0, "seconds": 0.0, "created_at": now,
            "updated_at": now}


def test_migrates_a_fresh_database_to_head_and_again_without_harm(pg_store, pg_database_url,
                                                                   tmp_path):
    assert pg_store.engine.dialect.name == "postgresql"
    tables = set(inspect(pg_store.engine).get_table_names())
    assert {"products", "customers", "events", "kb_documents", "generated_content", "campaigns",
            "campaign_rows", "jobs", "alembic_version"} <= tables
    with pg_store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == head_revision()
    with pg_store.session() as session:
        session.add(Product(id="P1", title="Tent", category="tents", price=99.0,
                            attributes={"color": "green"}))
    again = Store(Settings(data_dir=tmp_path / "data", database_url=pg_database_url))
    with again.session() as session:
        product = session.get(Product, "P1")
        assert product.attributes == {"color": "green"}
        assert product.updated_at.tzinfo is not None  # timestamptz comes back aware


def test_demo_shop_ingests_and_reingesting_events_adds_nothing(pg_store, demo_files):
    reports = {kind: ingest_file(pg_store, kind, demo_files[kind], progress=False)
               for kind in ("catalog", "customers", "events")}
    assert all(report.written > 0 and not report.errors for report in reports.values())
    assert count(pg_store, Product) == reports["catalog"].written
    assert count(pg_store, Customer) == reports["customers"].written
    events = count(pg_store, Event)
    assert events == reports["events"].written > 1000  # more than one write chunk

    again = ingest_file(pg_store, "events", demo_files["events"], progress=False)
    assert again.written == events and count(pg_store, Event) == events
    assert ingest_file(pg_store, "catalog", demo_files["catalog"], progress=False).changed_ids == []
    assert ingest_kb(pg_store, demo_files["kb"], progress=False).written == count(pg_store,
                                                                                   KBDocument)


def test_a_failed_file_writes_nothing(pg_store, demo_files, tmp_path):
    ingest_file(pg_store, "catalog", demo_files["catalog"], progress=False)
    before = count(pg_store, Customer)
    path = tmp_path / "customers.csv"
    path.write_text("id,first_name,email\nC1,Ada,ada@example.com\nC2,Bob,not-an-email\n")
    with pytest.raises(IngestError):
        ingest_file(pg_store, "customers", path, progress=False)
    assert count(pg_store, Customer) == before


def test_values_postgres_would_refuse_are_rejected_at_validation(pg_store, tmp_path):
    """SQLite stores a 101-character brand; PostgreSQL's VARCHAR(100) would fail the file."""
    path = tmp_path / "catalog.csv"
    path.write_text("id,title,category,price,brand\n"
                    f"P1,Tent,tents,99,{'x' * 101}\nP2,Mat,mats,19,Fjell\n")
    with pytest.raises(IngestError) as info:
        ingest_file(pg_store, "catalog", path, progress=False)
    [error] = info.value.report.errors
    assert (error.line, error.column) == (2, "brand")
    report = ingest_file(pg_store, "catalog", path, skip_invalid=True, progress=False)
    assert report.written == 1 and count(pg_store, Product) == 1


def test_a_duplicate_campaign_row_is_an_integrity_error(pg_store, campaign):
    with pg_store.session() as session:
        session.add(CampaignRow(**row("C1")))
    with pytest.raises(IntegrityError), pg_store.session() as session:
        session.add(CampaignRow(**row("C1", state="generated")))
    with pg_store.session() as session:  # the failed transaction left the first row as it was
        assert session.scalars(select(CampaignRow.state)).all() == ["pending"]


def test_upsert_without_update_skips_existing_and_repeated_keys(pg_store, campaign):
    with pg_store.session() as session:
        upsert(session, CampaignRow.__table__, [row("C1"), row("C2")], KEY, update=False)
    with pg_store.session() as session:  # C1 is there; C3 twice in one statement
        upsert(session, CampaignRow.__table__,
               [row("C1", "generated"), row("C3"), row("C3", "failed"), row("C1", version="email@2")],
               KEY, update=False)
    with pg_store.session() as session:
        stored = session.execute(select(CampaignRow.customer_id, CampaignRow.template_version,
                                        CampaignRow.state).order_by(CampaignRow.id)).all()
    assert stored == [("C1", "email@1", "pending"), ("C2", "email@1", "pending"),
                      ("C3", "email@1", "pending"), ("C1", "email@2", "pending")]


def test_upsert_with_update_takes_the_last_of_repeated_keys(pg_store, campaign):
    with pg_store.session() as session:
        upsert(session, CampaignRow.__table__, [row("C1")], KEY)
    with pg_store.session() as session:  # PostgreSQL alone would refuse C1 twice in one statement
        upsert(session, CampaignRow.__table__,
               [row("C1", "generated"), row("C2"), row("C1", "failed")], KEY)
    with pg_store.session() as session:
        assert dict(session.execute(select(CampaignRow.customer_id, CampaignRow.state)).all()) == {
            "C1": "failed", "C2": "pending"}


def test_upsert_writes_more_rows_than_one_statement_takes_parameters(pg_store):
    rows = [{"id": f"C{n}", "first_name": "X", "email": "", "locale": "en-GB",
             "marketing_consent": False, "created_at": datetime.now(UTC)}
            for n in range(12_000)]  # 72,000 parameters: over PostgreSQL's 65,535 at once
    with pg_store.session() as session:
        upsert(session, Customer.__table__, rows, ["id"])
    assert count(pg_store, Customer) == 12_000
