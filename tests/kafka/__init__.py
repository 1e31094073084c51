"""Local real Kafka cluster harness: a KRaft broker and two Connect workers, for tests."""
