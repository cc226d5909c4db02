"""Event handlers of billing-service."""

from ims_shared.consumer import EventHandlers

handlers = EventHandlers()
