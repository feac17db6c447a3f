"""`pip install .` without -e, as a container image does: the wheel alone must carry everything
the service reads (demo data, prompts, migrations, widget files), so `shopwright demo init` and
`shopwright serve` work from the installed copy, far from this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("shop", "gen", "retrieval", "recsys", "campaigns", "ui")


def _build_wheel(tmp: Path) -> Path:
    """Build from a copy of the tracked and untracked-but-not-ignored files, so a stale build/
    in the checkout cannot slip files into the wheel that the sources no longer have."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    source = tmp / "source"
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(source)],
                           check=False, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-3000:]
    return next((tmp / "dist").glob("shopwright-*.whl"))


def _venv_with_wheel(tmp: Path, wheel: Path) -> Path:
    """A fresh venv holding only the wheel, which borrows the dependencies of the test venv.

    The test venv has shopwright installed editable: its __editable__*.pth installs a finder
    that serves any `shop.*` module the wheel lacks from this checkout, hiding the very gap
    this test looks for. So the dependencies come in through a .pth that names the test venv's
    site-packages as a plain path: site.py processes .pth files only in site dirs, not in paths
    that a .pth adds, so the editable finder never loads. The wheel goes into the new venv's
    own site-packages, ahead of the borrowed one."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "-q", str(wheel)], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    return {**env, "SHOPWRIGHT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", **extra}


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_shop(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    sources = {str(path.relative_to(ROOT)) for package in CODE_PACKAGES
               for path in (ROOT / package).rglob("*.py")}
    assert sources <= set(names), f"packages missing from pyproject: {sorted(sources - set(names))}"
    for shipped in ("shopwright_data/demo/catalog.json", "shopwright_prompts/brand/default.toml",
                    "shop/migrations/env.py", "ui/widget/widget.js"):
        assert shipped in names

    venv = _venv_with_wheel(tmp_path, wheel)
    work, data_dir = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    env = _env(data_dir)
    probe = ("import shop, gen.prompts, sys; print(shop.__file__, gen.prompts.PROMPTS_DIR, "
             "sys.modules.get('__editable___shopwright_0_1_0_finder'))")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=work, env=env,
                           capture_output=True, text=True, check=True)
    shop_file, prompts_dir, finder = where.stdout.split()
    assert Path(shop_file).is_relative_to(venv) and Path(prompts_dir).is_relative_to(venv)
    assert finder == "None"

    shopwright = str(venv / "bin" / "shopwright")
    init = subprocess.run([shopwright, "demo", "init"], check=False, cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-3000:]
    assert "demo shop loaded" in init.stdout

    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([shopwright, "serve", "--port", str(port)], cwd=work,
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, ready = time.monotonic() + 600, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert ready is not None and ready.status_code == 200, log_path.read_text()[-3000:]
        widget = httpx.get(f"http://127.0.0.1:{port}/widget.js", timeout=10)
        assert widget.status_code == 200, widget.text[:500]
    finally:
        server.terminate()
        server.wait(timeout=30)
