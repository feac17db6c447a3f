"""Ingest catalog, customers, events, orders, support history and reviews from CSV/JSONL, and
the knowledge base from Markdown.

Every row is validated before anything is written. A file with any bad row writes nothing,
unless `skip_invalid`, which writes the good rows and puts the bad ones in a rejects file.
Writes are upserts (by id, or by idempotency key for events, or for reviews without an id by
customer, product and time), so re-ingesting is a no-op.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from tqdm import tqdm

from shop import orders, reviews, vetted
from shop.errors import InvalidInput
from shop.orders import order_row
from shop.records import (
    RECORDS,
    CustomerRecord,
    EventRecord,
    ProductRecord,
    Record,
    ReviewRecord,
)
from shop.review_tables import Review
from shop.rows import RowError, check_header, count_lines, read_rows, validate
from shop.schema import Customer, Event, KBDocument, Product, utcnow
from shop.store import Store
from shop.support_tables import Order, VettedAnswer
from shop.upsert import existing_ids, upsert

CHUNK = 2_000


@dataclass
class IngestReport:
    kind: str
    path: Path
    rows: int = 0
    written: int = 0
    errors: list[RowError] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)  # products/KB docs added or changed
    deleted_ids: list[str] = field(default_factory=list)
    rejects_path: Path | None = None

    def summary(self) -> str:
        text = f"{self.kind}: {self.rows} rows read, {self.written} written"
        if self.changed_ids:
            text += f", {len(self.changed_ids)} new or changed"
        if self.deleted_ids:
            text += f", {len(self.deleted_ids)} deleted"
        if self.errors:
            text += f", {len(self.errors)} rejected"
        if self.rejects_path:
            text += f" (see {self.rejects_path})"
        return text


class IngestError(InvalidInput):
    """A file had bad rows and nothing of it was written."""

    def __init__(self, report: IngestReport, shown: int = 20):
        self.report = report
        lines = [str(error) for error in report.errors[:shown]]
        more = len(report.errors) - shown
        if more > 0:
            lines.append(f"... and {more} more")
        lines.append(
            f"{len(report.errors)} bad row(s) in {report.path}; nothing was written. "
            "Fix them, or pass --skip-invalid to write the good rows and a rejects file."
        )
        super().__init__("\n".join(lines))


# ---- writing -------------------------------------------------------------------------------


def content_hash(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\x1f")
    return digest.hexdigest()


def _product_row(record: ProductRecord) -> dict[str, Any]:
    row = record.model_dump()
    row["content_hash"] = content_hash(
        record.title, record.description, record.category, record.brand, record.attributes,
        record.price, record.stock,
    )
    row["archived_at"] = None  # listed again: back in the catalog
    return row


def _customer_row(record: CustomerRecord) -> dict[str, Any]:
    row = record.model_dump()
    if row["created_at"] is None:
        del row["created_at"]
    return row


def _event_row(record: EventRecord) -> dict[str, Any]:
    return {
        "idempotency_key": record.key(),
        "customer_id": record.customer_id,
        "type": record.type,
        "product_id": record.product_id,
        "query": record.query,
        "session_id": record.session_id,
        "ts": record.timestamp,
    }


def _missing_references(store: Store, records: list[tuple[int, EventRecord]], path: Path):
    """Events must point at known customers and products; report the ones that do not."""
    customer_ids = {record.customer_id for _, record in records}
    product_ids = {record.product_id for _, record in records if record.product_id}
    with store.session() as session:
        known_customers = existing_ids(session, Customer, customer_ids)
        known_products = existing_ids(session, Product, product_ids)
    errors = []
    for line, record in records:
        if record.customer_id not in known_customers:
            errors.append(RowError(path, line, "customer_id",
                                   f"unknown customer {record.customer_id!r}; ingest customers first"))
        if record.product_id and record.product_id not in known_products:
            errors.append(RowError(path, line, "product_id",
                                   f"unknown product {record.product_id!r}; ingest the catalog first"))
    return errors


def _changed(session, table, rows: list[dict[str, Any]]) -> list[str]:
    """Ids that are new, changed (content hash) or, for products, listed again after an archive."""
    old: dict[str, str] = {}
    ids = [row["id"] for row in rows]
    archived = getattr(table, "archived_at", None)
    columns = (table.id, table.content_hash) + ((archived,) if archived is not None else ())
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for row_id, digest, *gone in session.execute(select(*columns).where(table.id.in_(chunk))):
            old[row_id] = "" if gone and gone[0] else digest
    return [row["id"] for row in rows if old.get(row["id"]) != row["content_hash"]]


def _archive_missing(session, listed: set[str]) -> list[str]:
    """Archive the products that a full catalog file no longer lists; return their ids."""
    current = session.scalars(select(Product.id).where(Product.archived_at.is_(None))).all()
    gone = sorted(set(current) - listed)
    for start in range(0, len(gone), 900):
        session.execute(update(Product).where(Product.id.in_(gone[start:start + 900]))
                        .values(archived_at=utcnow()))
    return gone


_WRITERS = {
    "catalog": (Product, _product_row, ["id"]),
    "customers": (Customer, _customer_row, ["id"]),
    "events": (Event, _event_row, ["idempotency_key"]),
    "orders": (Order, order_row, ["id"]),
    "support-history": (VettedAnswer, vetted.history_row, ["id"]),
    "reviews": (Review, reviews.review_row, ["id"]),
}
# kinds written by their own module (the upsert plus what it keeps in step)
_WRITE = {"orders": orders.write_orders, "support-history": vetted.write_history,
          "reviews": reviews.write_reviews}
_REFERENCES = {"events": _missing_references, "orders": orders.missing_references,
               "reviews": reviews.missing_references}


def ingest_file(
    store: Store, kind: str, path: Path, *, skip_invalid: bool = False, progress: bool = True,
    prune: bool = False,
) -> IngestReport:
    """Validate every row of `path`, then write all of it in one transaction (or nothing).

    With `prune` (catalog only) the file is the whole catalog: products it does not list are
    archived in the same transaction (a rejected row's product is kept as it was).
    """
    if kind not in RECORDS:
        raise InvalidInput(f"unknown kind {kind!r}; choose one of {', '.join(RECORDS)}")
    if prune and kind != "catalog":
        raise InvalidInput("--prune applies to the catalog only")
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    model = RECORDS[kind]
    check_header(path, model)
    report = IngestReport(kind=kind, path=path)

    good: list[tuple[int, Record]] = []
    seen_keys: dict[str, int] = {}
    total = count_lines(path) if progress else None
    rows = tqdm(read_rows(path), total=total, desc=f"validate {path.name}", unit="row",
                disable=not progress, leave=False)
    for line, row, parse_error in rows:
        report.rows += 1
        if parse_error:
            report.errors.append(parse_error)
            continue
        record, errors = validate(path, model, line, row)
        if errors:
            report.errors.extend(errors)
            continue
        key = record.key() if isinstance(record, (EventRecord, ReviewRecord)) else record.id
        if key in seen_keys:
            same = " (the same customer, product and created_at)" \
                if isinstance(record, ReviewRecord) and not record.id else ""
            report.errors.append(RowError(path, line, "id",
                                          f"duplicate of line {seen_keys[key]}{same}", row))
            continue
        seen_keys[key] = line
        good.append((line, record))

    if kind in _REFERENCES and good:
        reference_errors = _REFERENCES[kind](store, good, path)
        bad_lines = {error.line for error in reference_errors}
        report.errors.extend(reference_errors)
        good = [(line, record) for line, record in good if line not in bad_lines]

    if report.errors:
        report.errors.sort(key=lambda error: error.line)
        if not skip_invalid:
            raise IngestError(report)
        report.rejects_path = _write_rejects(path, report.errors)

    table, to_row, keys = _WRITERS[kind]
    rows_out = [to_row(record) for _, record in good]
    with store.session() as session:  # one transaction: all rows or none
        if kind == "catalog":
            report.changed_ids = _changed(session, table, rows_out)
        for start in tqdm(range(0, len(rows_out), CHUNK), desc=f"write {path.name}",
                          unit="chunk", disable=not progress, leave=False):
            chunk = rows_out[start:start + CHUNK]
            if kind in _WRITE:
                _WRITE[kind](session, chunk)
            else:
                upsert(session, table, chunk, keys, update=kind != "events")
        if prune:
            rejected = {str(e.raw.get("id")) for e in report.errors if isinstance(e.raw, dict)}
            report.deleted_ids = _archive_missing(session, set(seen_keys) | rejected)
    report.written = len(rows_out)
    return report


def _write_rejects(path: Path, errors: list[RowError]) -> Path:
    rejects = path.with_name(path.stem + ".rejects.csv")
    with rejects.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "column", "reason", "row"])
        for error in errors:
            raw = error.raw if isinstance(error.raw, str) else json.dumps(error.raw, default=str)
            writer.writerow([error.line, error.column, error.reason, raw])
    return rejects


# ---- knowledge base ------------------------------------------------------------------------

_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def ingest_kb(store: Store, directory: Path, *, prune: bool = False,
              progress: bool = True) -> IngestReport:
    """Load every .md/.txt file under `directory` as one KB document (id = file slug).

    With `prune`, documents ingested from this directory earlier whose file is gone are deleted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidInput(f"{directory}: not a directory")
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in (".md", ".txt"))
    report = IngestReport(kind="kb", path=directory, rows=len(files))
    rows = []
    for path in tqdm(files, desc="read kb", disable=not progress, leave=False):
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            report.errors.append(RowError(path, 1, "body", "empty document"))
            continue
        if "\x00" in text:
            report.errors.append(RowError(path, 1, "body", "contains a NUL character"))
            continue
        match = _HEADING.search(text)
        title = match.group(1).strip() if match else path.stem.replace("-", " ").capitalize()
        doc_id = _slug(str(path.relative_to(directory).with_suffix("")))
        source = str(path.relative_to(directory))
        # the column limits of shop/schema.py: PostgreSQL refuses longer values, SQLite not
        if len(doc_id) > 200 or len(source) > 500:
            report.errors.append(RowError(path, 1, "id", "file path too long for a document "
                                          "id (200 characters at most)"))
            continue
        if len(title) > 300:
            report.errors.append(RowError(path, 1, "title", "heading longer than 300 characters"))
            continue
        rows.append({
            "id": doc_id, "title": title, "topic": doc_id.split("-")[0][:100], "body": text,
            "source": source, "content_hash": content_hash(title, text),
        })
    if report.errors:
        raise IngestError(report)
    with store.session() as session:
        report.changed_ids = _changed(session, KBDocument, rows)
        upsert(session, KBDocument, rows, ["id"], update=True)
        if prune:
            keep = {row["id"] for row in rows}
            gone = [doc for doc in session.scalars(select(KBDocument)) if doc.id not in keep]
            for doc in gone:
                session.delete(doc)
            report.deleted_ids = [doc.id for doc in gone]
    report.written = len(rows)
    return report
