"""backup-service: the registry of CBR backups of ECSs in one region."""
