"""The `routes` resource of the `communities` interface (componentize-py looks for it in a
module named after the interface)."""

from gracewire_sdk import TaggingBuilder, joined_rule_name, label_set_slot, matches_any, set_count
from wit_world.exports import communities as api

import tagger

_KINDS = {
    ("standard", False): api.TagKind.ADD_STANDARD,
    ("standard", True): api.TagKind.REMOVE_STANDARD,
    ("large", False): api.TagKind.ADD_LARGE,
    ("large", True): api.TagKind.REMOVE_LARGE,
    ("extended", False): api.TagKind.ADD_EXTENDED,
    ("extended", True): api.TagKind.REMOVE_EXTENDED,
}


def _tag(community, remove: bool):
    kind = _KINDS[(community[0], remove)]
    if community[0] == "standard":
        return api.Tag(kind, community[1], 0, 0, 0)
    if community[0] == "large":
        return api.Tag(kind, *community[1:], 0)
    return api.Tag(kind, 0, 0, 0, community[1])


class Routes(api.Routes):
    """A batch prepared under the current rules: per label set, the rules its labels meet.
    Tags depend only on labels and peer, so the answer is per label set."""

    def __init__(self, batch) -> None:
        selectors = [rule.selector(batch) for rule, _, _ in tagger.RULES]
        self.rules_of = [
            [i for i, s in enumerate(selectors) if s.matches(batch, k)] for k in range(set_count(batch))
        ]

    def tag(self, peer):
        out = TaggingBuilder(sets=len(self.rules_of))
        for k, matching in enumerate(self.rules_of):
            tags, names = [], []
            for rule, add, remove in (tagger.RULES[i] for i in matching):
                if matches_any(rule.peers, peer.name):
                    tags.extend(_tag(c, False) for c in add)
                    tags.extend(_tag(c, True) for c in remove)
                    names.append(rule.name)
            name = joined_rule_name(names)
            choice = out.rule_set(name, tags) if name else 0
            out.set(label_set_slot(k, False), choice)
            out.set(label_set_slot(k, True), choice)
        return out.build()
