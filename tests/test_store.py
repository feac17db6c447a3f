from sqlalchemy import inspect, text

from shop.schema import Customer, Product
from shop.store import Store, upgrade


def test_migrations_create_every_table(store):
    tables = set(inspect(store.engine).get_table_names())
    assert {"products", "customers", "events", "kb_documents", "generated_content", "campaigns",
            "campaign_rows", "jobs", "api_keys", "chat_sessions", "chat_turns", "experiments",
            "experiment_variants", "experiment_assignments", "experiment_feedback",
            "trigger_firings", "stock_watch", "reviews", "customer_scores", "coupons",
            "coupon_uses", "offer_arms", "alembic_version"} <= tables
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0012"


def test_a_database_from_the_first_release_is_migrated_with_its_data(settings):
    engine = upgrade(settings, "0001")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO products (id, title, description, category, price, "
                                "currency, stock, brand, attributes, url, content_hash, "
                                "updated_at) VALUES ('P1', 'Tent', '', 'tents', 99, 'EUR', 1, '', "
                                "'{}', '', '', '2026-01-01')"))
    with Store(settings).session() as session:  # upgrades to head on open
        product = session.get(Product, "P1")
        assert product.title == "Tent" and product.archived_at is None


def test_sqlite_runs_in_wal_with_foreign_keys(store):
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrade_is_idempotent_and_data_survives(settings):
    first = Store(settings)
    with first.session() as session:
        session.add(Product(id="P1", title="Tent", category="tents", price=99.0))
    again = Store(settings)  # runs `alembic upgrade head` a second time
    with again.session() as session:
        assert session.get(Product, "P1").title == "Tent"


def test_session_rolls_back_on_error(store):
    try:
        with store.session() as session:
            session.add(Customer(id="C1", first_name="Ada"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with store.session() as session:
        assert session.get(Customer, "C1") is None
