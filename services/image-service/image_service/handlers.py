"""Event handlers of image-service."""

from ims_shared.consumer import EventHandlers

handlers = EventHandlers()
