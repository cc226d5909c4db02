"""image-service: Private full-ECS images from CBR backups, jobs, members, and the IMS-compatible API."""
