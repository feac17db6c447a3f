"""A marketer's review of generated ad copy: edit, rate, approve or discard, then export.

Copy rows live in `generated_content` (task "copy", written by GenService.copy). Review state
is the row's `status` (draft | approved | discarded); what a person changed is kept in the
row's `output` next to what the model wrote, so an export can say both who wrote the words
(model, prompt version) and whether a person edited them.

    output["fields"]          as the model (or its repair) wrote them; never overwritten
    output["edited_fields"]   the marketer's text, when they changed it
    output["rating"]          +1 / -1 (thumbs), absent when unrated
    output["reviewed_by"]     the studio user who last changed the review
"""

from __future__ import annotations

import csv
import io
import json
from typing import Literal

from sqlalchemy import select

from shop.errors import InvalidInput, NotFound
from shop.schema import GeneratedContent
from shop.store import Store

Status = Literal["draft", "approved", "discarded"]
EXPORT_COLUMNS = ["content_id", "product_id", "channel", "field", "text", "edited", "rating",
                  "prompt", "model", "created_at"]


def fields_text(fields: dict[str, str]) -> str:
    """Copy fields as editable text, one `name: value` line each (fields_from_text reads it)."""
    return "\n".join(f"{name}: {value}" for name, value in fields.items())


def fields_from_text(text: str, names: list[str]) -> dict[str, str]:
    """The inverse of fields_text for a copy row's own field names; one field may omit its
    `name:` label (a single-field channel such as sms)."""
    found: dict[str, str] = {}
    for line in text.strip().splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() in names:
            found[name.strip()] = value.strip()
        elif len(names) == 1:
            found[names[0]] = (found.get(names[0], "") + " " + line.strip()).strip()
        elif line.strip():
            raise InvalidInput(f"start each line with one of {', '.join(names)} and a colon "
                               f"(got {line.strip()[:40]!r})")
    missing = [n for n in names if not found.get(n)]
    if missing:
        raise InvalidInput(f"the copy needs a line for {', '.join(missing)}")
    return found


def review(store: Store, content_id: int, actor: str, status: Status | None = None,
           text: str | None = None, rating: int | None = None) -> dict:
    """Change one copy row's review: its status, its text (as fields_text shows it), its rating
    (+1, -1; 0 clears it). Returns the row as `copy_row` shows it."""
    if rating not in (None, -1, 0, 1):
        raise InvalidInput("rating is +1 (thumbs up), -1 (thumbs down) or 0 (none)")
    with store.session() as session:
        row = session.get(GeneratedContent, int(content_id))
        if row is None or row.task != "copy":
            raise NotFound(f"no generated copy with id {content_id}")
        output = dict(row.output)  # a new dict: SQLAlchemy sees the JSON column change
        if text is not None:
            edited = fields_from_text(text, list(output["fields"]))
            if edited == output["fields"]:
                output.pop("edited_fields", None)
            else:
                output["edited_fields"] = edited
        if rating is not None:
            if rating:
                output["rating"] = rating
            else:
                output.pop("rating", None)
        output["reviewed_by"] = actor
        row.output = output
        if status is not None:
            row.status = status
        session.flush()
        return copy_row(row)


def copy_row(row: GeneratedContent) -> dict:
    """A copy row as the studio and the exports show it: the text as it will ship."""
    output = row.output
    return {"content_id": row.id, "product_id": row.product_id,
            "channel": output.get("channel", ""), "status": row.status,
            "fields": output.get("edited_fields") or output["fields"],
            "edited": "edited_fields" in output, "rating": output.get("rating", 0),
            "source": output.get("source", ""), "problems": output.get("problems", []),
            "prompt": f"{row.prompt_name}@{row.prompt_version}", "model": row.model,
            "created_at": row.created_at.isoformat() if row.created_at else None}


def copy_rows(store: Store, content_ids: list[int] | None = None,
              status: Status | None = None) -> list[dict]:
    """Copy rows by id (in that order) or all with a status, oldest first."""
    query = select(GeneratedContent).where(GeneratedContent.task == "copy")
    if content_ids is not None:
        query = query.where(GeneratedContent.id.in_([int(i) for i in content_ids]))
    if status is not None:
        query = query.where(GeneratedContent.status == status)
    with store.session() as session:
        rows = [copy_row(row) for row in session.scalars(query.order_by(GeneratedContent.id))]
    if content_ids is not None:
        order = {int(i): n for n, i in enumerate(content_ids)}
        rows.sort(key=lambda r: order[r["content_id"]])
    return rows


def export_csv(rows: list[dict]) -> str:
    """One line per field of each row (a search ad: headline and description lines)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        for name, value in row["fields"].items():
            writer.writerow([row["content_id"], row["product_id"], row["channel"], name, value,
                             row["edited"], row["rating"], row["prompt"], row["model"],
                             row["created_at"]])
    return out.getvalue()


def export_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
