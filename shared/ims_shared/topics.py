"""Topic names. One topic per aggregate family and region, so events of one aggregate stay ordered."""

from enum import StrEnum

BILLING_TOPIC = "ims.billing"
DEAD_LETTER_SUFFIX = ".dlt"


class TopicKind(StrEnum):
    BACKUPS = "backups"
    IMAGES = "images"
    REPLICATION = "replication"
    BILLING = "billing"


def topic_for(kind: TopicKind, region: str) -> str:
    """The topic of ``kind`` in ``region``; billing is global and ignores the region."""
    if kind is TopicKind.BILLING:
        return BILLING_TOPIC
    return f"ims.{region}.{kind.value}"


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


def all_topics(regions: list[str]) -> list[str]:
    """Every topic of the deployment, with its dead-letter twin."""
    names = [BILLING_TOPIC]
    for region in regions:
        names += [topic_for(kind, region) for kind in TopicKind if kind is not TopicKind.BILLING]
    return names + [dead_letter_topic(name) for name in names]
