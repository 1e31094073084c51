#!/usr/bin/env bash
# Installs Java 17+ and Maven, which tests/kafka/cluster.py needs, when either is missing.
# For Debian/Ubuntu machines (CI runs as root; elsewhere sudo is used). Does nothing when both
# are there, so .ci/run can call it on every run.
set -euo pipefail

java_major() {
    # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' on stderr.
    java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1
}

packages=()
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
    packages+=(openjdk-17-jre-headless)
fi
if ! command -v mvn >/dev/null 2>&1; then
    packages+=(maven)
fi
if [ "${#packages[@]}" -eq 0 ]; then
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
echo "install-java-maven: installing ${packages[*]}" >&2
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${packages[@]}"
java -version
mvn -v
