"""Every generated piece goes into `generated_content` with what produced it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gen.prompts import PromptTemplate
from shop.schema import GeneratedContent
from shop.store import Store


def inputs_hash(inputs: dict[str, Any]) -> str:
    canonical = json.dumps(inputs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(store: Store, task: str, prompt: PromptTemplate, model: str,
           inputs: dict[str, Any], outputs: list[dict[str, Any]],
           customer_id: str | None = None, product_id: str | None = None,
           campaign_id: str | None = None) -> list[int]:
    """Store one row per output; return their ids."""
    digest = inputs_hash(inputs)
    rows = [GeneratedContent(task=task, prompt_name=prompt.name, prompt_version=prompt.version,
                             model=model, inputs_hash=digest, output=output,
                             customer_id=customer_id, product_id=product_id,
                             campaign_id=campaign_id)
            for output in outputs]
    with store.session() as session:
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]
