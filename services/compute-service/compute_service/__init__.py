"""compute-service: the ECSs of one region and their disks, made from public and full-ECS images."""
