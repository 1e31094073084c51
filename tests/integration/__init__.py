"""Tests against the real local Kafka cluster of tests/kafka/cluster.py."""
