"""The `routes` resource: decided once per label set, so no work per route."""

from gracewire_sdk import DecisionsBuilder, LabelSelector, announce_as_configured, label_set_slot, set_count
from wit_world.exports import announce as api

from app import CONFIG


class Routes(api.Routes):
    def __init__(self, batch) -> None:
        # An empty pool list in LabelSelector means "any pool": here it must mean none.
        def member(pools):
            selector = LabelSelector().one_of(batch, "pool", pools)
            return lambda k: bool(pools) and selector.matches(batch, k)

        skip, prepend = member(CONFIG["skip_pools"]), member(CONFIG["prepend_pools"])
        self.sets = [(skip(k), prepend(k)) for k in range(set_count(batch))]

    def decide(self, peer):
        out = DecisionsBuilder(sets=len(self.sets))
        # Each outcome names its rule: gracewire shows it per route and counts routes per rule.
        plain = announce_as_configured(rule="plain")
        longer = api.Announcement(None, None, None, 1, None, rule="prepend_pools")
        for k, (skipped, prepended) in enumerate(self.sets):
            choice = 0 if skipped else out.announcement(longer if prepended else plain)
            out.set(label_set_slot(k, False), choice)
            out.set(label_set_slot(k, True), choice)
        return out.build()
