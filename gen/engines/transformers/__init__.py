"""The in-process transformers engine: model loading (llm.py), the continuous batcher
(batching.py) and the engine over both (engine.py)."""
