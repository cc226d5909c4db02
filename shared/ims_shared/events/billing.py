"""Billing events (global topic ``ims.billing``)."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from ims_shared.events.envelope import EventData, Id, Producers, produced_by
from ims_shared.topics import TopicKind


class BackupArrears(EventData):
    """The backup's account was released for arrears: the backup (and every image made from it) must go.

    billing-service emits it with the backup's ``region`` and ``projectid`` on the CloudEvent, key ``backup_id``.
    """

    producers: ClassVar[Producers] = produced_by("billing-service")

    topic_kind: ClassVar[TopicKind] = TopicKind.BILLING
    key_field: ClassVar[str] = "backup_id"
    backup_id: Id = Field(min_length=1)
    account_id: Id = Field(min_length=1)
    reason: str = "arrears"


AccountState = Literal["normal", "grace", "frozen", "released"]


class AccountStateChanged(EventData):
    """An account moved to ``state``. ``frozen`` and ``released`` accounts may make no new images, shares or
    replications. ``balance`` is a decimal string; ``state_since`` orders the changes of one account."""

    producers: ClassVar[Producers] = produced_by("billing-service")

    topic_kind: ClassVar[TopicKind] = TopicKind.BILLING
    key_field: ClassVar[str] = "account_id"
    account_id: Id = Field(min_length=1)
    state: AccountState
    balance: str
    previous_state: AccountState | None = None
    state_since: datetime | None = None
