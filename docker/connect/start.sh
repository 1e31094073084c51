#!/usr/bin/env bash
# Start a distributed Kafka Connect worker from the worker configuration Kubernetes mounts.
#
# The configuration file (WORKER_CONFIG, default /etc/config/connect-worker/worker.properties,
# from the ConfigMap connect-worker) is handed to connect-distributed as it is. Its credentials
# are ${file:/etc/config/connect/<file>:<key>} references that Kafka's FileConfigProvider
# resolves inside the JVM from the mounted Secret files, so this script never reads, parses or
# prints a secret: it only checks that the file is there.
set -euo pipefail

readonly WORKER_CONFIG="${WORKER_CONFIG:-/etc/config/connect-worker/worker.properties}"

if [[ ! -r $WORKER_CONFIG ]]; then
    printf 'connect-start: %s is missing or unreadable: mount the connect-worker ConfigMap\n' \
        "$WORKER_CONFIG" >&2
    exit 2
fi
printf 'connect-start: connect-distributed %s\n' "$WORKER_CONFIG" >&2
exec connect-distributed "$WORKER_CONFIG"
