"""Generate and load the demo shop through the same ingestion path a real shop uses."""

from __future__ import annotations

from typing import Iterator

from shop.demo import generate_demo
from shop.ingest import ingest_file, ingest_kb
from ui.context import ShopContext


def load_demo(context: ShopContext, seed: int = 7, force: bool = False,
              progress: bool = False) -> Iterator[str]:
    settings = context.settings
    marker = settings.data_dir / "demo" / f".loaded-seed-{seed}"
    if marker.exists() and not force:
        yield f"demo shop (seed {seed}) already loaded in {settings.data_dir}"
        return
    paths = generate_demo(settings.data_dir / "demo", seed=seed)
    store = context.store
    for kind in ("catalog", "customers", "events"):
        report = ingest_file(store, kind, paths[kind], progress=progress)
        context.after_ingest(report)
        yield report.summary()
    report = ingest_kb(store, paths["kb"], progress=progress)
    context.after_ingest(report)
    yield report.summary()
    marker.touch()
    yield f"demo shop loaded into {settings.db_url}"
