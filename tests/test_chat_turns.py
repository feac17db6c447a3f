"""Chat turns are rows: concurrent requests of one session all keep their turns (SQLite in WAL
as the store runs it, and PostgreSQL where a server can start), erasure removes them, and
migration 0008 moves the JSON turns of older databases into rows and back."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from shop.keys import BOOTSTRAP_ADMIN, Caller
from shop.outcomes import give_feedback, record_outcome
from shop.privacy import erase_customer, export_customer
from shop.schema import ChatTurn, Customer
from shop.sessions import MAX_TURNS, add_turns, create_session, load_session
from shop.settings import Settings
from shop.store import Store, upgrade

WRITERS = 8
TURNS_EACH = MAX_TURNS // WRITERS  # all of them fit in what a session keeps


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, settings) -> Store:
    if request.param == "sqlite":
        return Store(settings)
    url = request.getfixturevalue("pg_database_url")
    return Store(Settings(data_dir=settings.data_dir, database_url=url))


def turns_count(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(ChatTurn))


def test_concurrent_writers_of_one_session_all_keep_their_turns_in_order(any_store):
    session_id = create_session(any_store, Caller(), timedelta(hours=1))["session_id"]
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(TURNS_EACH):
                add_turns(any_store, session_id, {"role": "user", "content": f"w{writer}-{n}",
                                                  "at": "2026-01-01T00:00:00+00:00"})
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    turns = load_session(any_store, session_id)["turns"]
    assert len(turns) == WRITERS * TURNS_EACH
    for writer in range(WRITERS):
        assert [t["content"] for t in turns if t["content"].startswith(f"w{writer}-")] == [
            f"w{writer}-{n}" for n in range(TURNS_EACH)]
    assert turns[0] == {"role": "user", "content": turns[0]["content"],
                        "at": "2026-01-01T00:00:00+00:00"}


def test_a_session_keeps_its_last_turns_and_a_handoff_flags_it(store):
    session_id = create_session(store, Caller(), timedelta(hours=1))["session_id"]
    for n in range(MAX_TURNS + 5):
        add_turns(store, session_id, {"role": "user", "content": f"q{n}"})
    add_turns(store, session_id, {"role": "assistant", "content": "a", "citations": ["kb:1"],
                                  "products": [], "handoff": True})
    found = load_session(store, session_id)
    assert [t["content"] for t in found["turns"]] == [f"q{n}" for n in range(6, MAX_TURNS + 5)
                                                      ] + ["a"]
    assert found["turns"][-1] == {"role": "assistant", "content": "a", "citations": ["kb:1"],
                                  "products": [], "handoff": True}
    assert found["handoff"] is True
    assert turns_count(store) == MAX_TURNS  # older rows deleted, not just hidden


def test_turns_of_an_expired_or_unknown_session_are_not_kept(store):
    expired = create_session(store, Caller(), timedelta(seconds=-1))["session_id"]
    assert load_session(store, expired) is None
    add_turns(store, "never-opened", {"role": "user", "content": "hi"})
    assert turns_count(store) == 0


def test_export_shows_the_turns_and_erasure_deletes_them(store):
    with store.session() as session:
        session.add(Customer(id="C1", first_name="Ada"))
    mine = create_session(store, BOOTSTRAP_ADMIN, timedelta(hours=1), "C1")["session_id"]
    other = create_session(store, Caller(), timedelta(hours=1))["session_id"]
    add_turns(store, mine, {"role": "user", "content": "where is my order?"},
              {"role": "assistant", "content": "on its way"})
    add_turns(store, other, {"role": "user", "content": "hello"})

    record_outcome(store, mine, 2, "where is my order?", "orders")
    give_feedback(store, mine, 2, False, "it was not on its way")
    record_outcome(store, other, 1, "hello", "no_answer")

    [chat] = export_customer(store, "C1", "test")["chats"]
    assert [t["content"] for t in chat["turns"]] == ["where is my order?", "on its way"]
    # their verdict on an answer, and what they wrote with it, are theirs too
    [outcome] = chat["outcomes"]
    assert (outcome["outcome"], outcome["helpful"], outcome["comment"]) == \
        ("orders", False, "it was not on its way")

    counts = erase_customer(store, "C1", "test")
    assert counts["chat_sessions"] == 1 and counts["chat_turns"] == 2
    assert counts["chat_outcomes"] == 1
    assert load_session(store, mine) is None
    assert [t["content"] for t in load_session(store, other)["turns"]] == ["hello"]
    assert turns_count(store) == 1


def test_migration_moves_json_turns_into_rows_and_back(settings):
    engine = upgrade(settings, "0007")
    stored = ('[{"role": "user", "content": "hi", "at": "2026-01-02T03:04:05+00:00"}, '
              '{"role": "assistant", "content": "hello", "citations": ["kb:returns"], '
              '"handoff": false, "at": "not a time"}]')
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO chat_sessions (id_hash, key_id, customer_id, turns, handoff, created_at, "
            "expires_at) VALUES (:h, NULL, NULL, :turns, 0, '2026-01-01', '2999-01-01')"),
            {"h": "h" * 64, "turns": stored})

    store = Store(settings)  # upgrades to head on open
    with store.session() as session:
        rows = session.scalars(select(ChatTurn).order_by(ChatTurn.id)).all()
        assert [(r.role, r.content) for r in rows] == [("user", "hi"), ("assistant", "hello")]
        assert rows[1].extra == {"citations": ["kb:returns"], "handoff": False,
                                 "at": "not a time"}

    _downgrade(settings, "0007")
    with engine.connect() as connection:
        back = connection.execute(text("SELECT turns FROM chat_sessions")).scalar()
    assert json.loads(back) == json.loads(stored)


def _downgrade(settings: Settings, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from shop.store import MIGRATIONS_DIR, get_engine

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with get_engine(settings.db_url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
