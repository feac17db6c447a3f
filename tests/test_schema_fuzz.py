"""The API matches its own schema: Schemathesis (`schemathesis run`, every check that is not a
time limit) against the live app's /openapi.json on the demo shop with the real models, with
an admin key.

tests/schemathesis.toml lists, with reasons, the refusals the schema cannot express, and runs
the model-writing routes with few examples (each call runs the LLM on 2 cores).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shop.keys import create_key
from tests.conftest import serving

CONFIG = Path(__file__).with_name("schemathesis.toml")
# `--checks all` but max_response_time (10 s by default): tests never assert on time, and the
# benches in bench/ measure it
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance",
          "negative_data_rejection", "positive_data_acceptance", "missing_required_header",
          "unsupported_method", "allow_header_conformance", "use_after_free",
          "ensure_resource_availability", "ignored_auth", "object_level_authorization")


def schemathesis_cli() -> str:
    found = Path(sys.executable).with_name("schemathesis")
    return str(found) if found.exists() else shutil.which("schemathesis") or "schemathesis"


@pytest.mark.slow
def test_every_route_answers_as_its_schema_says(demo_context):
    from ui.app import create_app

    _, key = create_key(demo_context.store, "admin", "schemathesis")
    app = create_app(demo_context, with_studio=False)
    app.state.rate_limiter.enabled = False  # fuzz the handlers, not the limiter
    with serving(app) as base:
        run = subprocess.run(
            [schemathesis_cli(), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
             "--checks", ",".join(CHECKS), "-H", f"Authorization: Bearer {key}",
             "--phases", "examples,coverage,fuzzing", "--no-color"],
            check=False, capture_output=True, text=True, timeout=1800)
    report = run.stdout[-8000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated and int(generated.group(1)) > 100, report  # it really exercised the API
    print(f"schemathesis: {generated.group(1)} cases generated, no failures")
