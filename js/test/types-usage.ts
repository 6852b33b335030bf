// Compiled (never run) by types.test.js: the README's usage type-checks against index.d.ts, and
// misuse does not (each @ts-expect-error must meet an error, or tsc fails).
import { BedrockError, BedrockProvider, type ChatResponse, type HookEvent, type StreamEvent } from '../index.js';

export async function usage(): Promise<void> {
  const provider = new BedrockProvider({
    config: { default_model: 'anthropic.claude-sonnet-5', max_tokens: 4096, debug: false },
    env: { AWS_REGION: 'us-east-1', AWS_BEARER_TOKEN_BEDROCK: 'token' },
    inheritEnv: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
    onEvent: (event: HookEvent) => void event.data.request_id,
  });
  const response: ChatResponse = await provider.complete(
    { messages: [{ role: 'user', content: 'Hi' }], reasoning_effort: 'high' },
    { signal: AbortSignal.timeout(60_000) },
  );
  for (const block of response.content) if (block.type === 'text') void block.text.toUpperCase();
  for await (const event of provider.stream({ messages: [{ role: 'user', content: 'Hi' }] })) {
    const e: StreamEvent = event;
    if (e.type === 'delta' && e.text) void e.text.length;
    if (e.type === 'done') void e.usage.total_tokens;
  }
  try {
    await provider.countTokens({ messages: [] });
  } catch (error) {
    if (error instanceof BedrockError && error.kind === 'validation') void error.message;
  }
  const calls = await provider.parseToolCalls(response);
  void calls[0]?.arguments;
  void (await provider.listModels())[0]?.id;
  void (await provider.getInfo()).id;
  await provider.close();

  // @ts-expect-error: config values are strings, numbers or booleans
  new BedrockProvider({ config: { max_tokens: [1] } });
  // @ts-expect-error: a request needs messages
  await provider.complete({ model: 'x' });
  // @ts-expect-error: no such kind
  void ((new BedrockError('x').kind as BedrockError['kind']) === 'timeout');
}
