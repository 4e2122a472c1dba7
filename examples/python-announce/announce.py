"""The `routes` resource: decided once per label set, so no work per route."""

from gracewire_sdk import DecisionsBuilder, LabelSelector, announce_as_configured, label_set_slot, set_count
from wit_world.exports import announce as api

from app import CONFIG


class Routes(api.Routes):
    def __init__(self, batch) -> None:
        skip = LabelSelector().one_of(batch, "pool", CONFIG["skip_pools"] or ["\0none"])
        prepend = LabelSelector().one_of(batch, "pool", CONFIG["prepend_pools"] or ["\0none"])
        self.sets = [
            (skip.matches(batch, k), prepend.matches(batch, k)) for k in range(set_count(batch))
        ]

    def decide(self, peer):
        out = DecisionsBuilder(sets=len(self.sets))
        plain = announce_as_configured()
        longer = api.Announcement(None, None, None, 1, None)
        for k, (skipped, prepended) in enumerate(self.sets):
            choice = 0 if skipped else out.announcement(longer if prepended else plain)
            out.set(label_set_slot(k, False), choice)
            out.set(label_set_slot(k, True), choice)
        return out.build()
