"""Cross-region replication events (topic ``ims.<region>.replication``)."""
