"""A campaign's files, rewritten from the store at the end of every run so they match it.

    emails.jsonl       one object per customer with an email to send, by customer id
    eml/ID.eml         the same emails as RFC 5322 messages (List-Unsubscribe headers included)
    summary.json       counts by state and source, grounding problems, tokens, time, rate

Each email carries `send_at` (UTC, ISO 8601): its customer's best hour (campaigns/send_time.py).

Each file is written beside its target and renamed over it, so a reader (or a kill) never
sees half a file. A customer who unsubscribed after their email was written stays in the store
but leaves the files: these are the files one sends from.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from campaigns import rows as store_rows
from gen.tasks.email import EmailDraft
from shop.files import replace_file, safe_name
from shop.settings import Settings
from shop.store import Store

EMAIL_FIELDS = ("customer_id", "to", "subject", "preheader", "text", "html", "products",
                "source", "recommendation_source", "unsubscribe_url", "prompt", "model",
                "language", "send_at", "offer")  # offer: the personal code it prints, or null


def write_outputs(store: Store, settings: Settings, campaign_id: str, template_version: str,
                  out_dir: Path, run: dict | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = store_rows.generated_rows(store, campaign_id, template_version)
    sendable = [row for row in written if row.eligible]
    lines = [json.dumps({key: row.output.get(key) for key in EMAIL_FIELDS}, ensure_ascii=False)
             for row in sendable]
    replace_file(out_dir / "emails.jsonl", "".join(line + "\n" for line in lines))
    _write_eml_dir(out_dir / "eml", settings, sendable)
    summary = _summary(store, campaign_id, template_version, written, run)
    replace_file(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _summary(store: Store, campaign_id: str, template_version: str, written, run) -> dict:
    counts = store_rows.state_counts(store, campaign_id).get(template_version,
                                                             {"states": {}, "sources": {}})
    shipped_problems = Counter()
    caught = promised = 0
    for row in written:
        for problem in row.output.get("problems") or []:
            shipped_problems[problem.split(":")[0]] += 1
        caught += len(row.output.get("violations_before") or [])
        promised += len(row.output.get("promises_before") or [])  # offers, purchases: a part
    seconds = sum(row.seconds for row in written)
    return {
        "campaign": campaign_id,
        "template": template_version,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "states": {state: counts["states"].get(state, 0)
                   for state in ("pending", "generated", "failed", "skipped")},
        "sources": {source: counts["sources"].get(source, 0)
                    for source in ("model", "repaired", "fallback")},
        "in_files": sum(1 for row in written if row.eligible),
        "withdrawn_after_writing": sum(1 for row in written if not row.eligible),
        "grounding": {"violations_shipped": sum(shipped_problems.values()),
                      "shipped_by_kind": dict(shipped_problems),
                      "violations_caught_before_shipping": caught,
                      "promises_caught_before_shipping": promised},
        "tokens": sum(row.tokens for row in written),
        "generation_seconds": round(seconds, 2),
        "emails_per_minute": round(60.0 * len(written) / seconds, 2) if seconds else None,
        "last_run": run,
        "failures": [{"customer_id": c, "error": e}
                     for c, e in store_rows.failures(store, campaign_id)],
    }


def _write_eml_dir(target: Path, settings: Settings, rows) -> None:
    """Build the folder beside the old one, then swap: never a mix of two runs."""
    fresh = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    for row in rows:
        draft = EmailDraft(**{k: v for k, v in row.output.items()
                              if k in EmailDraft.__dataclass_fields__})
        (fresh / f"{safe_name(row.customer_id)}.eml").write_bytes(bytes(draft.to_message(settings)))
    old = target.with_name(f".{target.name}.old.{os.getpid()}")
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
