"""Fast tests: no Kafka, no network beyond loopback fakes."""
