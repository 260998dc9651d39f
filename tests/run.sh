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

# redis-server 7.0 is the oracle of the differential tests (tests/differential_bits.rs); they
# are skipped, with a message, if it cannot be installed.
if ! command -v redis-server >/dev/null; then
    echo "installing redis-server (the differential tests' oracle)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    { $SUDO apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null; } ||
        echo "redis-server could not be installed: the differential tests will be skipped"
fi

cargo test --release "$@"
