#!/usr/bin/env bash
# README command 2: install if needed (with test tools, Ray, psycopg, Chromium and PostgreSQL),
# then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev

have_initdb() {
    command -v initdb >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

# System packages the browser and PostgreSQL tests need, in one apt-get update.
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium chromium-driver)
have_initdb || packages+=(postgresql)
if [ "${#packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing ${packages[*]} for the browser and PostgreSQL tests"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}") \
            >/dev/null 2>&1 || echo "!! could not install ${packages[*]}"
    fi
    [ -x /usr/bin/chromium ] || echo "!! no Chromium: browser tests will be skipped"
    have_initdb || echo "!! no PostgreSQL (initdb): PostgreSQL tests will be skipped"
fi

export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"
