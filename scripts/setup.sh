#!/usr/bin/env bash
# Install everything trendoff needs on a fresh machine, from package registries only:
# Java 17 + Maven + Chromium (Debian, when missing), a Python virtual environment with trendoff and its
# pinned dependencies (PyPI), and the Kafka / Cassandra / Spark connector jars (Maven Central).
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
# The web page's browser test drives Debian's Chromium through Playwright (no browser download).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing: ${need_apt[*]}; install them (Debian: sudo apt-get install ${need_apt[*]}) and re-run"
    exit 2
  fi
  log "installing ${need_apt[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python_bin="${TRENDOFF_PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
       && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      python_bin="$candidate"; break
    fi
  done
fi
[ -n "$python_bin" ] || { log "Python 3.11 or newer is needed"; exit 2; }

if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
stamp=.venv/.trendoff-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing trendoff and its pinned dependencies into .venv (pyspark builds once, ~1 min)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi

.venv/bin/trendoff setup
log "ready: activate with 'source .venv/bin/activate'"
