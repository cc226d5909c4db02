"""replication-service: Cross-region replication of full-ECS images and their backup copies."""
