"""connect-operator tests: unit (fast), deploy (manifests, Dockerfiles), integration (Kafka)."""
