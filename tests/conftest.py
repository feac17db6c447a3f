"""Shared fixtures.

Fast unit tests get a fresh SQLite store in a temp dir. Integration tests share, per session,
the demo shop loaded once and the real embedded models loaded once.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("SHOPWRIGHT_CONTROL_SHARE", "0")  # session fixtures too (see below)

from shop.settings import Settings
from shop.store import Store


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("SHOPWRIGHT_"):
            monkeypatch.delenv(key)
    # apps built here skip the start-up warm-up (ui/warmup.py) unless a test asks for it
    monkeypatch.setenv("SHOPWRIGHT_WARM_UP", "false")
    # no global control group unless a test asks for one (who is in it depends on each data
    # dir's key, which would make audiences differ from run to run)
    monkeypatch.setenv("SHOPWRIGHT_CONTROL_SHARE", "0")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """Converted LLM copies, shared by the whole session (the GGUF conversion runs once)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def settings(tmp_path, model_cache) -> Settings:
    return Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache)


@pytest.fixture
def store(settings) -> Store:
    return Store(settings)


def demo_settings(data_dir: Path, **values) -> Settings:
    """Settings over `data_dir` named after the demo shop the way `shopwright demo init` names
    it (data_dir/identity.toml), so copies of the folder and subprocesses over it are too."""
    from shop.demo import DEMO_IDENTITY
    from shop.identity import ShopIdentity, write_identity

    write_identity(data_dir, ShopIdentity(**DEMO_IDENTITY), replace=True)
    return Settings(data_dir=data_dir, **values)


@pytest.fixture
def demo_identity() -> dict[str, str]:
    """The demo shop's name, url and postal address (what `demo init` writes)."""
    from shop.demo import DEMO_IDENTITY

    return dict(DEMO_IDENTITY)


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory) -> dict[str, Path]:
    from shop.demo import generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo-files"), seed=7)


@pytest.fixture(scope="session")
def demo_context(tmp_path_factory, model_cache, demo_files):
    """A ShopContext over the demo shop, loaded once per session. Treat it as read-only."""
    from shop.ingest import ingest_file, ingest_kb
    from ui.context import ShopContext

    settings = demo_settings(tmp_path_factory.mktemp("demo-data"), model_cache_dir=model_cache)
    context = ShopContext(settings)
    for kind in ("catalog", "customers", "events"):
        context.after_ingest(ingest_file(context.store, kind, demo_files[kind], progress=False))
    context.after_ingest(ingest_kb(context.store, demo_files["kb"], progress=False))
    return context


def writable_demo(demo_context, tmp_path_factory, model_cache, **values):
    """A ShopContext over a copy of the loaded demo shop (store, indexes): for tests that
    write, without loading the demo again or touching the shared one."""
    from ui.context import ShopContext

    target = tmp_path_factory.mktemp("demo-copy") / "data"
    demo_context.store.engine.dispose()  # every write is in the file before it is copied
    shutil.copytree(demo_context.settings.data_dir, target)
    return ShopContext(demo_settings(target, model_cache_dir=model_cache, **values))


@pytest.fixture(scope="session")
def real_llm(model_cache, tmp_path_factory):
    from gen.engines.transformers.llm import load_llm

    settings = Settings(data_dir=tmp_path_factory.mktemp("llm-data"), model_cache_dir=model_cache)
    return load_llm(settings)


@pytest.fixture(scope="session")
def real_embedder(tmp_path_factory):
    from retrieval.models import load_embedder

    return load_embedder(Settings(data_dir=tmp_path_factory.mktemp("emb-data")))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.skip("Chromium is not installed (scripts/test.sh installs it as root)")
    return path


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    """A localhost TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app, port: int | None = None):
    """Serve a FastAPI app with uvicorn in a background thread; yields its base URL."""
    import threading
    import time

    import uvicorn

    port = port or free_port()
    # open streams (a gradio_client's event stream) would hold a graceful shutdown for the
    # join's 30 s; a test server has nothing to drain
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server for the session (tests/pg.py); skips, saying why, without one."""
    from pg import PostgresUnavailable, postgres_cluster

    try:
        cluster = postgres_cluster()
        url = cluster.__enter__()
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL unavailable: {error.reason}")
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)


_pg_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg_database_url(postgres_url):
    """A fresh, empty PostgreSQL database for one test; dropped after it."""
    from pg import create_database, drop_database

    url = create_database(postgres_url, f"test_{next(_pg_databases)}")
    yield url
    from shop.store import get_engine

    get_engine(url).dispose()  # close this test's pooled connections before dropping
    drop_database(url)
