"""Retrieval layer: embedder, vector index, keyword and hybrid search."""
