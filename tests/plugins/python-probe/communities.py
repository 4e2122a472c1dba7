from wit_world.exports import communities as api
from wit_world.imports import types


class Routes(api.Routes):
    def __init__(self, batch) -> None:
        self.routes = len(batch.prefix_len)

    def tag(self, peer):
        return api.Tagging(sets=[], choice=types.Choices_PerRoute([0] * self.routes))
