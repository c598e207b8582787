"""A HubSpot portal's CRM as data: records, their associations, and the ground truth.

Tests seed an `Account`, serve it with `hubspot_emulator.Emulator`, and compare what
the tap emits with `Account.truth()`. Nothing here knows about the tap: the emulator is
the reference the tap is measured against, so it keeps its own table of HubSpot's
object types rather than borrowing the tap's.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from hubspot_emulator.clock import Clock

STANDARD_TYPES: dict[str, str] = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tickets": "0-5",
    "products": "0-7",
    "line_items": "0-8",
    "quotes": "0-14",
    "tasks": "0-27",
    "notes": "0-46",
    "meetings": "0-47",
    "calls": "0-48",
    "emails": "0-49",
    "leads": "0-136",
}
"""HubSpot's standard object types by plural name, with their type ids."""

AssociationType = tuple[str, int, str | None]
"""(category, typeId, label)"""
Target = tuple[int, tuple[AssociationType, ...]]
"""(toObjectId, association types)"""
TruthRecord = tuple[str, str, str, str, str, int, str | None]
"""(from_object_type, from_id, to_object_type, to_id, category, type_id, label)"""
SEEDED_AT_MS = 1_577_836_800_000
"""When seeded records were last modified (2020-01-01), unless a test modifies them."""


class Account:
    """The CRM of one portal: object types and the associations between their records."""

    def __init__(
        self,
        *,
        portal_id: int = 4242,
        custom_objects: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.portal_id = portal_id
        self.clock = clock or Clock()
        """The portal's time: modifications without an explicit time happen now by it,
        and an `Emulator` serving the account keeps time by it too."""
        self.type_ids = dict(STANDARD_TYPES)
        for type_id, name in (custom_objects or {}).items():
            self.type_ids[f"p{portal_id}_{name}"] = type_id
            self.type_ids[name] = type_id
        self.names = {type_id: name for name, type_id in self.type_ids.items()}
        self.custom = dict(custom_objects or {})
        self.edges: dict[tuple[str, str], dict[int, list[Target]]] = {}
        self.objects: dict[str, dict[int, int]] = {}
        """Live records of each type (by type id), with when each was last modified (ms)."""
        self.previously_modified: dict[tuple[str, int], int] = {}
        """The modification before the last one: what a lagging search index still sees."""
        self.archived: dict[str, set[int]] = {}
        self.changes = 0
        """Counts changes to the set of live records, so listings know to sort again."""

    def add_objects(
        self, object_type: str, ids: Iterable[int], *, modified_at: int = SEEDED_AT_MS
    ) -> None:
        known = self.objects.setdefault(self._known(object_type), {})
        for id_ in ids:
            known.setdefault(id_, modified_at)
        self.changes += 1

    def modify(self, object_type: str, ids: Iterable[int], *, at: int | None = None) -> None:
        """Records changed (a property edited): their last-modified time becomes `at`.

        Associating records does not modify them: that is HubSpot's way, and why an
        incremental pass cannot see an association added between unmodified records.
        """
        type_id = self._known(object_type)
        stamp = self.clock.time_ms() if at is None else at
        known = self.objects[type_id]
        for id_ in ids:
            self.previously_modified[(type_id, id_)] = known[id_]
            known[id_] = stamp

    def archive(self, object_type: str, ids: Iterable[int]) -> None:
        """Records deleted: gone from listings and searches, with their associations."""
        type_id = self._known(object_type)
        for id_ in ids:
            del self.objects[type_id][id_]
            self.archived.setdefault(type_id, set()).add(id_)
            for (from_type, _), edges in self.edges.items():
                if from_type == type_id:
                    edges.pop(id_, None)
        self.changes += 1

    def modified_between(self, object_type: str, since: int, until: int) -> list[int]:
        """Ids of the live records last modified in [since, until) (epoch ms)."""
        known = self.objects.get(self._known(object_type), {})
        return sorted(id_ for id_, at in known.items() if since <= at < until)

    def labels(self, from_type: str, to_type: str) -> set[AssociationType]:
        """Every association type in use between two object types."""
        pair = (self._known(from_type), self._known(to_type))
        return {
            kind
            for targets in self.edges.get(pair, {}).values()
            for _, kinds in targets
            for kind in kinds
        }

    def path_type_id(self, given: str) -> str | None:
        """The type id of an object type as HubSpot's paths accept it: a type id, a
        standard type's plural or singular name, a custom object's fully qualified name
        or `p_{name}`. Its bare name is refused, as HubSpot does since 2025-06-24."""
        if given in self.names:
            return given
        lowered = given.lower()
        for plural, type_id in STANDARD_TYPES.items():
            if lowered in (plural, singular(plural)):
                return type_id
        for type_id, name in self.custom.items():
            if lowered in (f"p{self.portal_id}_{name}", f"p_{name}"):
                return type_id
        return None

    def type_id(self, given: str) -> str | None:
        """The canonical type id of a name, type id or fully qualified name."""
        if given in self.names:
            return given
        return self.type_ids.get(given.lower())

    def associate(
        self, from_type: str, to_type: str, from_id: int, targets: Iterable[Target]
    ) -> None:
        """Make `targets` the associations of one record (replacing any it had)."""
        pair = (self._known(from_type), self._known(to_type))
        self.edges.setdefault(pair, {})[from_id] = list(targets)
        known = self.objects.setdefault(pair[0], {})
        if from_id not in known:
            known[from_id] = SEEDED_AT_MS
            self.changes += 1

    def targets(self, from_type: str, to_type: str, from_id: int) -> list[Target]:
        pair = (self._known(from_type), self._known(to_type))
        return self.edges.get(pair, {}).get(from_id, [])

    def seed(
        self,
        from_type: str,
        to_type: str,
        from_ids: Iterable[int],
        *,
        seed: int,
        max_targets: int = 40,
    ) -> None:
        """Give each id a random, reproducible set of associations (often none, some many)."""
        rng = random.Random(f"{seed}:{from_type}:{to_type}")
        default_type = rng.randint(1, 400)
        for from_id in from_ids:
            roll = rng.random()
            if roll < 0.25:
                count = 0
            elif roll < 0.75:
                count = rng.randint(1, 3)
            elif roll < 0.93:
                count = rng.randint(4, 12)
            else:
                count = rng.randint(13, max(13, max_targets))
            count = min(count, max_targets)
            targets = []
            for to_id in rng.sample(range(10**10, 10**12), count):
                kinds: list[AssociationType] = [("HUBSPOT_DEFINED", default_type, None)]
                if rng.random() < 0.3:
                    kinds.append(("HUBSPOT_DEFINED", default_type + 1, "Primary"))
                if rng.random() < 0.15:
                    type_id = 1000 + rng.randint(0, 3)
                    kinds.append(("USER_DEFINED", type_id, USER_LABELS[type_id]))
                if rng.random() < 0.05:
                    kinds.append(("WORK", 500, None))
                targets.append((to_id, tuple(kinds)))
            self.associate(from_type, to_type, from_id, targets)

    def truth(self, from_type: str, to_type: str, from_ids: Iterable[int]) -> set[TruthRecord]:
        """The records a perfect tap emits for these ids, with types named as given."""
        return {
            (from_type, str(from_id), to_type, str(to_id), category, type_id, label)
            for from_id in set(from_ids)
            for to_id, kinds in self.targets(from_type, to_type, from_id)
            for category, type_id, label in kinds
        }

    def _known(self, given: str) -> str:
        type_id = self.type_id(given) or self.path_type_id(given)
        if type_id is None:
            raise KeyError(given)
        return type_id


USER_LABELS = {
    1000: "Billing contact",
    1001: "Decision maker",
    1002: "Technical contact",
    1003: "Former employee",
}
"""One label per user-defined association type, as a real portal has them."""


def demo_account(seed: int = 7) -> tuple[Account, dict[tuple[str, str], list[int]]]:
    """A small portal with a custom object, and the ids of each demo pair."""
    account = Account(custom_objects={"2-4242": "cars"})
    rng = random.Random(seed)
    pairs = {
        ("contacts", "companies"): sorted(rng.sample(range(10**9, 10**11), 300)),
        ("deals", "contacts"): sorted(rng.sample(range(10**9, 10**11), 120)),
        ("p4242_cars", "contacts"): sorted(rng.sample(range(10**9, 10**11), 50)),
    }
    for (from_type, to_type), ids in pairs.items():
        account.seed(from_type, to_type, ids, seed=seed)
    return account, pairs


def singular(plural: str) -> str:
    """A standard type's singular name, as HubSpot's messages and paths use it."""
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    return plural.removesuffix("s")
