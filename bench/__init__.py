"""`make bench`: the system measured beside the bare limit of the same broker and PostgreSQL (see README.md)."""
