"""Generate and load the demo shop through the same ingestion path a real shop uses."""

from __future__ import annotations

from collections.abc import Iterator

from shop.demo import DEMO_IDENTITY, generate_demo
from shop.identity import ShopIdentity, identity_path, read_identity, write_identity
from shop.ingest import ingest_file, ingest_kb
from ui.context import ShopContext


def install_demo_identity(context: ShopContext) -> str:
    """Name the data dir's shop after the demo (data_dir/identity.toml) unless it already has
    an identity file, and give the context's settings what they still miss of it, before
    anything is indexed or served under a placeholder. Returns a line saying what it did."""
    settings = context.settings
    written = write_identity(settings.data_dir, ShopIdentity(**DEMO_IDENTITY))
    settings.adopt_identity(read_identity(settings.data_dir))
    path = identity_path(settings.data_dir)
    if written is None:
        return f"shop identity: {settings.shop_name} (kept {path})"
    return f"shop identity: {settings.shop_name} (the demo's, written to {path})"


def load_demo(context: ShopContext, seed: int = 7, force: bool = False,
              progress: bool = False) -> Iterator[str]:
    settings = context.settings
    yield install_demo_identity(context)
    marker = settings.data_dir / "demo" / f".loaded-seed-{seed}"
    if marker.exists() and not force:
        yield f"demo shop (seed {seed}) already loaded in {settings.data_dir}"
        return
    paths = generate_demo(settings.data_dir / "demo", seed=seed)
    store = context.store
    for kind in ("catalog", "customers", "events", "orders", "reviews"):
        report = ingest_file(store, kind, paths[kind], progress=progress)
        context.after_ingest(report)
        yield report.summary()
    report = ingest_kb(store, paths["kb"], progress=progress)
    context.after_ingest(report)
    yield report.summary()
    marker.touch()
    yield f"demo shop loaded into {settings.db_url}"
