"""The region catalog and the cross-region replication routes."""

from dataclasses import dataclass

KNOWN_REGIONS: dict[str, str] = {
    "cn-north-4": "CN North-Beijing4",
    "ap-southeast-1": "AP-Hong Kong",
    "eu-west-101": "EU-Dublin",
}
DEFAULT_DEPLOYED_REGIONS = ["cn-north-4", "ap-southeast-1"]
DEFAULT_ROUTES = "cn-north-4:ap-southeast-1,ap-southeast-1:cn-north-4"


@dataclass(frozen=True)
class RouteTable:
    """Allowed (source, destination) pairs for cross-region replication of full-ECS images."""

    routes: frozenset[tuple[str, str]]

    @classmethod
    def parse(cls, text: str) -> "RouteTable":
        pairs = set()
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            source, _, destination = item.partition(":")
            pairs.add((source.strip(), destination.strip()))
        return cls(frozenset(pairs))

    def allows(self, source: str, destination: str) -> bool:
        return (source, destination) in self.routes
