"""Event handlers of replication-service."""

from ims_shared.consumer import EventHandlers

handlers = EventHandlers()
