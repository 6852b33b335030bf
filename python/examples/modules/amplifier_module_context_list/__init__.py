"""The smallest context manager a session needs: the conversation as a plain list.

Real bundles use Amplifier's context-simple (token budgets, compaction).
"""

__amplifier_module_type__ = "context"


class ListContext:
    def __init__(self):
        self._messages = []

    async def add_message(self, message):
        self._messages.append(dict(message))

    async def get_messages(self):
        return list(self._messages)

    async def get_messages_for_request(self, token_budget=None, provider=None):
        return list(self._messages)

    async def set_messages(self, messages):
        self._messages = [dict(m) for m in messages]

    async def clear(self):
        self._messages.clear()


async def mount(coordinator, config=None):
    await coordinator.mount("context", ListContext())
