"""Shared plumbing for the full-ECS image services: the event contract, topics, outbox and inbox,
Kafka and PostgreSQL helpers, settings, logging, authentication, health and metrics."""
