#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs
# every test against the real server binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-cli and redis-benchmark are real clients the tests drive.
if ! command -v redis-benchmark >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "installing redis-tools (redis-cli, redis-benchmark)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-tools >/dev/null
fi

# openssl makes the certificates of the TLS tests (tests/tls.rs).
if ! command -v openssl >/dev/null; then
    echo "installing openssl (the TLS tests' certificates)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl >/dev/null
fi

# redis-server 7.0 is the oracle of the differential tests (tests/differential_*.rs,
# tests/compatibility.rs); they are skipped, with a message, if it cannot be installed.
if ! command -v redis-server >/dev/null; then
    echo "installing redis-server (the differential tests' oracle)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    { $SUDO apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null; } ||
        echo "redis-server could not be installed: the differential tests will be skipped"
fi

# redis-py (and later the applications: Celery, RQ) run against the server in the tests that
# check real Python clients; a virtualenv under target/ keeps them off the system Python.
# tests/common's `python_client()` finds it there.
PYENV=target/pyenv
if ! "$PYENV/bin/python" -c 'import sys' 2>/dev/null; then
    echo "making a Python virtualenv in $PYENV"
    if ! python3 -m venv "$PYENV" 2>/dev/null; then
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$PYENV"
    fi
fi
# Every run, so a package added to the list is installed; already satisfied (pinned) costs
# no download. `python -m pip`, not `bin/pip`: a copied target/ keeps pip's old shebang.
"$PYENV/bin/python" -m pip install -q -r tests/python-requirements.txt

# Every test binary runs even after a failure, so one run shows every failure.
cargo test --release --no-fail-fast "$@"
