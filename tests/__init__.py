"""connect-operator's tests: unit (fast), deploy (manifests, Dockerfiles), integration (real Kafka)."""
