"""The on-disk embedding cache: what is encoded, what is served, and what survives a bad file."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from recsys.embedding_cache import EmbeddingCache, cached
from recsys.interactions import ItemTable
from recsys.models.content import ensure_embeddings, has_text, minilm_encoder
from recsys.synthetic import hashed_encoder, synthetic

MODEL = "test-model"
TEXTS = ["red wool scarf", "blue cotton shirt", "green linen trousers", "black leather belt"]


class CountingEncoder:
    """hashed_encoder that records every batch it is asked to encode."""

    def __init__(self, dimension: int = 32):
        self.encode = hashed_encoder(dimension)
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.encode(texts)

    @property
    def encoded(self) -> list[str]:
        return [text for call in self.calls for text in call]


def test_vectors_equal_the_uncached_ones(tmp_path):
    encoder = cached(CountingEncoder(), EmbeddingCache(tmp_path, MODEL))
    cold, warm = encoder(TEXTS), encoder(TEXTS)
    expected = hashed_encoder()(TEXTS)
    assert cold.dtype == np.float32 and cold.shape == (4, 32)
    np.testing.assert_array_equal(cold, expected)
    np.testing.assert_array_equal(warm, expected)


def test_second_call_encodes_nothing_even_in_a_new_process(tmp_path):
    counting = CountingEncoder()
    cached(counting, EmbeddingCache(tmp_path, MODEL))(TEXTS)
    assert counting.calls == [TEXTS]

    again = CountingEncoder()
    cache = EmbeddingCache(tmp_path, MODEL)  # reads the file the first one wrote
    out = cached(again, cache)(list(reversed(TEXTS)))
    assert again.calls == []
    assert (cache.hits, cache.misses) == (4, 0)
    np.testing.assert_array_equal(out, hashed_encoder()(list(reversed(TEXTS))))


def test_changed_text_reencodes_only_that_text(tmp_path):
    counting = CountingEncoder()
    cache = EmbeddingCache(tmp_path, MODEL)
    encoder = cached(counting, cache)
    encoder(TEXTS)
    changed = [TEXTS[0], "blue cotton shirt, slim fit", *TEXTS[2:]]
    out = encoder(changed)
    assert counting.calls == [TEXTS, ["blue cotton shirt, slim fit"]]
    assert (cache.hits, cache.misses) == (3, 5)
    assert len(cache) == 5
    np.testing.assert_array_equal(out, hashed_encoder()(changed))


def test_another_model_name_does_not_reuse_vectors(tmp_path):
    cached(CountingEncoder(), EmbeddingCache(tmp_path, MODEL))(TEXTS)
    other = CountingEncoder(dimension=16)
    out = cached(other, EmbeddingCache(tmp_path, "another-model"))(TEXTS)
    assert other.calls == [TEXTS]
    assert out.shape == (4, 16)
    # Both models keep their own vectors side by side.
    first = CountingEncoder()
    cached(first, EmbeddingCache(tmp_path, MODEL))(TEXTS)
    assert first.calls == []


def test_duplicated_texts_are_encoded_once(tmp_path):
    counting = CountingEncoder()
    cache = EmbeddingCache(tmp_path, MODEL)
    texts = ["a b", "c d", "a b", "a b", "c d"]
    out = cached(counting, cache)(texts)
    assert counting.calls == [["a b", "c d"]]
    assert (cache.hits, cache.misses) == (3, 2)
    assert len(cache) == 2
    np.testing.assert_array_equal(out, hashed_encoder()(texts))


def test_empty_call_returns_no_rows(tmp_path):
    out = cached(CountingEncoder(), EmbeddingCache(tmp_path, MODEL))([])
    assert len(out) == 0


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04truncated"])
def test_corrupt_file_is_ignored_with_a_warning(tmp_path, caplog, content):
    cache = EmbeddingCache(tmp_path, MODEL)
    cache.file.parent.mkdir(parents=True, exist_ok=True)
    cache.file.write_bytes(content)
    counting = CountingEncoder()
    with caplog.at_level(logging.WARNING, logger="recsys.embedding_cache"):
        out = cached(counting, cache)(TEXTS)
    assert "unreadable" in caplog.text
    assert counting.calls == [TEXTS]
    np.testing.assert_array_equal(out, hashed_encoder()(TEXTS))
    # The bad file was replaced by a good one.
    again = CountingEncoder()
    cached(again, EmbeddingCache(tmp_path, MODEL))(TEXTS)
    assert again.calls == []


def test_unwritable_directory_still_encodes(tmp_path, caplog):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    counting = CountingEncoder()
    with caplog.at_level(logging.WARNING, logger="recsys.embedding_cache"):
        out = cached(counting, EmbeddingCache(blocker, MODEL))(TEXTS)
    assert "cannot write" in caplog.text
    np.testing.assert_array_equal(out, hashed_encoder()(TEXTS))


def test_no_temporary_files_are_left(tmp_path):
    encoder = cached(CountingEncoder(), EmbeddingCache(tmp_path, MODEL))
    encoder(TEXTS[:2])
    encoder(TEXTS)
    assert [p.name for p in tmp_path.iterdir()] == [EmbeddingCache(tmp_path, MODEL).file.name]


def test_oldest_entries_go_past_the_limit(tmp_path):
    cache = EmbeddingCache(tmp_path, MODEL, max_entries=3)
    counting = CountingEncoder()
    encoder = cached(counting, cache)
    encoder(TEXTS)
    assert len(cache) == 3
    encoder(TEXTS[1:])
    assert counting.calls == [TEXTS]


def test_ensure_embeddings_on_a_rebuilt_catalog_encodes_nothing(tmp_path):
    counting = CountingEncoder()
    encoder = cached(counting, EmbeddingCache(tmp_path, MODEL))
    _, first = synthetic(n_items=50)
    _, second = synthetic(n_items=50)
    np.testing.assert_array_equal(ensure_embeddings(first, encoder),
                                  ensure_embeddings(second, encoder))
    assert len(counting.calls) == 1 and len(counting.encoded) == 50


def test_minilm_encoder_with_a_warm_cache_does_not_load_the_model(settings, tmp_path,
                                                                   monkeypatch):
    import retrieval.models

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded for cached texts")

    cached(hashed_encoder(), EmbeddingCache(tmp_path, settings.embed_model))(TEXTS)
    monkeypatch.setattr(retrieval.models, "load_embedder", refuse)
    out = minilm_encoder(settings, cache_dir=tmp_path)(TEXTS)
    np.testing.assert_array_equal(out, hashed_encoder()(TEXTS))


def _items(ids: list[str], texts: list[str]) -> ItemTable:
    return ItemTable(ids=np.asarray(ids, dtype=object), titles=list(ids), texts=texts)


@pytest.mark.parametrize(("ids", "texts", "expected"), [
    (["a", "b"], ["", "   "], False),
    (["sku-1", "sku-2"], ["sku-1", " sku-2 "], False),
    (["sku-1", "sku-2"], ["", "sku-1"], True),  # another item's id is still text
    (["sku-1", "sku-2"], ["sku-1", "Wool scarf"], True),
    ([], [], False),
])
def test_has_text(ids, texts, expected):
    assert has_text(_items(ids, texts)) is expected


def test_synthetic_catalog_has_text():
    _, items = synthetic(n_items=10)
    assert has_text(items)
