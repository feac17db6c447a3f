"""Ingestion: validation with line and column, all-or-nothing writes, rejects, idempotency."""

import csv
import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from shop.errors import InvalidInput
from shop.ingest import IngestError, ingest_file, ingest_kb
from shop.schema import Customer, Event, KBDocument, Product

CATALOG = """id,title,description,category,price,currency,stock,brand,attributes,url
P1,Trail Rain Jacket,"Waterproof shell.
Taped seams.",jackets,129.00,EUR,4,Fjell,"{""color"": ""navy""}",https://shop.example/p/1
P2,Alpine Boots,Leather boots,boots,not-a-price,EUR,2,Fjell,{},https://shop.example/p/2
P3,Dome Tent,Two person tent,tents,249.50,EUR,0,Fjell,{},https://shop.example/p/3
"""


def count(store, table) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(table))


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_row_names_line_and_column_and_writes_nothing(store, tmp_path):
    path = write(tmp_path / "catalog.csv", CATALOG)
    with pytest.raises(IngestError) as info:
        ingest_file(store, "catalog", path, progress=False)
    [error] = info.value.report.errors
    # P1's description spans lines 2-3, so P2 starts on line 4 of the file.
    assert (error.line, error.column) == (4, "price")
    assert "catalog.csv:4: column 'price'" in str(info.value)
    assert count(store, Product) == 0
    assert not (tmp_path / "catalog.rejects.csv").exists()


def test_skip_invalid_writes_good_rows_and_a_rejects_file(store, tmp_path):
    path = write(tmp_path / "catalog.csv", CATALOG)
    report = ingest_file(store, "catalog", path, skip_invalid=True, progress=False)
    assert report.written == 2 and sorted(report.changed_ids) == ["P1", "P3"]
    with store.session() as session:
        assert session.get(Product, "P1").attributes == {"color": "navy"}
        assert session.get(Product, "P2") is None
    rows = list(csv.DictReader(report.rejects_path.open()))
    assert [(row["line"], row["column"]) for row in rows] == [("4", "price")]
    assert json.loads(rows[0]["row"])["id"] == "P2"


def test_reingest_is_idempotent_and_reports_only_changes(store, tmp_path):
    path = write(tmp_path / "catalog.csv", CATALOG.replace("not-a-price", "180"))
    assert len(ingest_file(store, "catalog", path, progress=False).changed_ids) == 3
    assert ingest_file(store, "catalog", path, progress=False).changed_ids == []
    write(path, CATALOG.replace("not-a-price", "175"))
    assert ingest_file(store, "catalog", path, progress=False).changed_ids == ["P2"]
    assert count(store, Product) == 3


def test_missing_and_unknown_columns_are_named(store, tmp_path):
    path = write(tmp_path / "c.csv", "id,title,price\nP1,Tent,10\n")
    with pytest.raises(InvalidInput, match="missing required column.*category"):
        ingest_file(store, "catalog", path, progress=False)
    path = write(tmp_path / "d.csv", "id,title,category,price,colour\nP1,Tent,tents,10,red\n")
    with pytest.raises(InvalidInput, match="unknown column.*colour"):
        ingest_file(store, "catalog", path, progress=False)


def _seed_people_and_products(store, tmp_path):
    write(tmp_path / "cat.csv", CATALOG.replace("not-a-price", "180"))
    ingest_file(store, "catalog", tmp_path / "cat.csv", progress=False)
    write(tmp_path / "cust.jsonl", "\n".join(json.dumps(row) for row in [
        {"id": "C1", "first_name": "Ada", "email": "ada@example.com", "marketing_consent": True},
        {"id": "C2", "first_name": "Bo", "locale": "sv-SE"},
    ]))
    ingest_file(store, "customers", tmp_path / "cust.jsonl", progress=False)


def test_events_are_idempotent_by_key(store, tmp_path):
    _seed_people_and_products(store, tmp_path)
    path = write(tmp_path / "events.csv",
                 "idempotency_key,customer_id,type,product_id,query,session_id,timestamp\n"
                 "E1,C1,view,P1,,S1,2026-06-01T10:00:00+00:00\n"
                 "E2,C1,purchase,P1,,S1,2026-06-01T10:05:00+00:00\n"
                 ",C2,search,,rain jacket,S2,2026-06-02T09:00:00\n")
    assert ingest_file(store, "events", path, progress=False).written == 3
    ingest_file(store, "events", path, progress=False)
    assert count(store, Event) == 3
    with store.session() as session:
        search = session.scalar(select(Event).where(Event.type == "search"))
        assert search.idempotency_key.startswith("h:") and search.query == "rain jacket"


def test_events_must_reference_known_customers_and_products(store, tmp_path):
    _seed_people_and_products(store, tmp_path)
    path = write(tmp_path / "events.csv",
                 "customer_id,type,product_id,timestamp\n"
                 "C1,view,P1,2026-06-01T10:00:00\n"
                 "C9,view,P1,2026-06-01T10:00:00\n"
                 "C1,view,P404,2026-06-01T10:00:00\n"
                 "C1,purchase,,2026-06-01T10:00:00\n"
                 "C1,teleport,P1,2026-06-01T10:00:00\n")
    with pytest.raises(IngestError) as info:
        ingest_file(store, "events", path, progress=False)
    found = [(error.line, error.column) for error in info.value.report.errors]
    assert found == [(3, "customer_id"), (4, "product_id"), (5, "-"), (6, "type")]
    assert count(store, Event) == 0


def test_jsonl_syntax_error_names_line(store, tmp_path):
    path = write(tmp_path / "cust.jsonl", '{"id": "C1", "first_name": "Ada"}\n{"id": "C2",\n')
    with pytest.raises(IngestError) as info:
        ingest_file(store, "customers", path, progress=False)
    assert info.value.report.errors[0].line == 2
    assert count(store, Customer) == 0


def test_kb_ingest_titles_changes_and_prune(store, tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    write(kb / "returns-policy.md", "# Returns policy\n\n## Window\nReturn within 30 days.\n")
    write(kb / "shipping.md", "# Shipping\n\nFree over 50 EUR.\n")
    report = ingest_kb(store, kb, progress=False)
    assert sorted(report.changed_ids) == ["returns-policy", "shipping"]
    with store.session() as session:
        doc = session.get(KBDocument, "returns-policy")
        assert doc.title == "Returns policy" and doc.topic == "returns"
    (kb / "shipping.md").unlink()
    report = ingest_kb(store, kb, prune=True, progress=False)
    assert report.changed_ids == [] and report.deleted_ids == ["shipping"]
    assert count(store, KBDocument) == 1


def test_cli_reports_bad_row_and_exit_code(tmp_path):
    path = write(tmp_path / "catalog.csv", CATALOG)
    env = {"SHOPWRIGHT_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "ui.cli", "ingest", "catalog", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "catalog.csv:4: column 'price'" in result.stderr
    assert "nothing was written" in result.stderr
    result = subprocess.run(command + ["--skip-invalid"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "2 written" in result.stdout and "1 rejected" in result.stdout
    assert (tmp_path / "catalog.rejects.csv").exists()


def test_prune_archives_unlisted_products_and_relisting_restores_them(store, tmp_path):
    full = CATALOG.replace("not-a-price", "180")
    ingest_file(store, "catalog", write(tmp_path / "full.csv", full), progress=False)
    _seed_people_and_products(store, tmp_path)
    write(tmp_path / "ev.csv", "idempotency_key,customer_id,type,product_id,timestamp\n"
                               "E1,C1,purchase,P3,2026-06-01T10:00:00+00:00\n")
    ingest_file(store, "events", tmp_path / "ev.csv", progress=False)

    without_p3 = "\n".join(line for line in full.splitlines() if not line.startswith("P3")) + "\n"
    report = ingest_file(store, "catalog", write(tmp_path / "snap.csv", without_p3),
                         prune=True, progress=False)
    assert report.deleted_ids == ["P3"] and "1 deleted" in report.summary()
    with store.session() as session:
        assert session.get(Product, "P3").archived_at is not None  # history kept, not served
        assert session.get(Product, "P1").archived_at is None
        assert count(store, Event) == 1

    report = ingest_file(store, "catalog", tmp_path / "full.csv", progress=False)
    assert report.changed_ids == ["P3"]  # listed again: re-indexed even with the same content
    with store.session() as session:
        assert session.get(Product, "P3").archived_at is None


def test_prune_keeps_a_rejected_rows_product_and_is_catalog_only(store, tmp_path):
    ingest_file(store, "catalog", write(tmp_path / "full.csv", CATALOG.replace("not-a-price", "1")),
                progress=False)
    report = ingest_file(store, "catalog", write(tmp_path / "bad.csv", CATALOG), prune=True,
                         skip_invalid=True, progress=False)
    assert report.deleted_ids == []  # P2's row was rejected, so P2 is not treated as gone
    with pytest.raises(InvalidInput, match="catalog only"):
        ingest_file(store, "customers", tmp_path / "bad.csv", prune=True, progress=False)


def test_an_optional_image_url_column_is_stored_and_checked(store, tmp_path):
    header = "id,title,category,price,image_url\n"
    good = write(tmp_path / "images.csv", header + "P1,Rain Jacket,jackets,129,"
                 "https://cdn.example/p1.jpg\nP2,Boots,boots,80,\n")
    ingest_file(store, "catalog", good, progress=False)
    with store.session() as session:
        assert session.get(Product, "P1").image_url == "https://cdn.example/p1.jpg"
        assert session.get(Product, "P2").image_url == ""  # the widget shows a placeholder
    bad = write(tmp_path / "bad.csv", header + "P3,Tent,tents,200,javascript:alert(1)\n")
    with pytest.raises(IngestError, match="bad.csv:2: column 'image_url'"):
        ingest_file(store, "catalog", bad, progress=False)
