"""The smallest orchestrator a session needs: one provider call per prompt, its text returned.

Real bundles use Amplifier's loop-basic or loop-streaming (tools, streaming, agent turns).
"""

from amplifier_core.message_models import ChatRequest

__amplifier_module_type__ = "orchestrator"


class SingleTurn:
    async def execute(self, prompt, context, providers, tools, hooks, **kwargs):
        await context.add_message({"role": "user", "content": prompt})
        provider = next(iter(providers.values()))
        messages = await context.get_messages_for_request(provider=provider)
        response = await provider.complete(ChatRequest(messages=messages))
        text = "".join(block.text for block in response.content if block.type == "text")
        await context.add_message({"role": "assistant", "content": text})
        return text


async def mount(coordinator, config=None):
    await coordinator.mount("orchestrator", SingleTurn())
