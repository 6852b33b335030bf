// stream(): the component's stream events, yielded one by one as they arrive.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ask, emulatorEnv, provider, startEmulator, startProxy } from './helpers.js';

/** Collects a stream's events with the time each arrived. */
async function collect(iterable) {
  const out = [];
  for await (const event of iterable) out.push({ at: Date.now(), event });
  return out;
}

test('stream: events arrive incrementally while the answer is still being sent', async (t) => {
  const emu = await startEmulator(t);
  // Twelve text blocks, each its own start / delta / stop, relayed 256 bytes every 25 ms.
  const texts = Array.from({ length: 12 }, (_, i) => `Part ${i + 1} of the answer.`);
  await emu.push({
    type: 'message',
    id: 'msg_paced',
    role: 'assistant',
    model: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
    content: texts.map((text) => ({ type: 'text', text })),
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 5, output_tokens: 60 },
  });
  const proxy = await startProxy(t, emu.url, { chunk: 256, paceMs: 25 });
  const hooks = [];
  const p = provider(t, { env: emulatorEnv(proxy.url), onEvent: (e) => hooks.push({ at: Date.now(), name: e.name }) });
  const started = Date.now();
  const events = await collect(p.stream(ask('Tell me in parts')));

  const types = events.map((e) => e.event.type);
  assert.equal(types[0], 'block_start');
  assert.equal(types.at(-1), 'done');
  assert.equal(types.filter((x) => x === 'block_start').length, 12);
  const text = events.filter((e) => e.event.type === 'delta').map((e) => e.event.text);
  assert.deepEqual(text, texts);
  const done = events.at(-1).event;
  assert.equal(done.finish_reason, 'stop');
  assert.equal(done.usage.output_tokens, 60);

  const [relay] = proxy.log;
  const first = events[0].at;
  const last = events.at(-1).at;
  assert.ok(first < relay.ended, `the first event (+${first - started} ms) came before the answer was all sent (+${relay.ended - started} ms)`);
  assert.ok(last - first >= 200, `events spread over ${last - first} ms`);
  assert.ok(new Set(events.map((e) => e.at)).size >= 5, 'events arrived at many different times');
  // The hook events (llm:stream_*) come as they happen too.
  const deltas = hooks.filter((h) => h.name === 'llm:stream_block_delta');
  assert.equal(deltas.length, 12);
  assert.ok(deltas.at(-1).at - deltas[0].at >= 150, 'stream hook events spread out');
});

test('stream: a long count answer, its first event long before its end', async (t) => {
  const emu = await startEmulator(t);
  const proxy = await startProxy(t, emu.url, { chunk: 1024, paceMs: 20 });
  const p = provider(t, { env: emulatorEnv(proxy.url) });
  const events = await collect(p.stream(ask('count from 1 to 3000')));
  const text = events
    .filter((e) => e.event.type === 'delta')
    .map((e) => e.event.text)
    .join('');
  assert.equal(text, Array.from({ length: 3000 }, (_, i) => i + 1).join(' '));
  assert.equal(events[0].event.type, 'block_start');
  assert.equal(events.at(-1).event.type, 'done');
  assert.ok(events.at(-1).at - events[0].at >= 150, `first event ${events.at(-1).at - events[0].at} ms before the end`);
});

test('stream: the Messages API (Sonnet 5) with thinking streams thinking, then text', async (t) => {
  const emu = await startEmulator(t);
  const p = provider(t, { env: emulatorEnv(emu.url) });
  const events = (await collect(p.stream(ask('Think first', { model: 'anthropic.claude-sonnet-5', reasoning_effort: 'high' })))).map(
    (e) => e.event,
  );
  assert.deepEqual(events[0], { type: 'block_start', index: 0, block: { type: 'thinking' } });
  assert.ok(events.some((e) => e.type === 'delta' && typeof e.thinking === 'string' && e.thinking.length > 0));
  assert.ok(events.some((e) => e.type === 'delta' && typeof e.signature === 'string'));
  assert.ok(events.some((e) => e.type === 'delta' && e.text === 'Hello from the local Bedrock emulator! You said: Think first'));
  assert.equal(events.at(-1).type, 'done');
  assert.equal((await emu.requests())[0].operation, 'messages');
});

test('stream: errors reject next() with their prefix; leaving early closes the connection', async (t) => {
  const emu = await startEmulator(t);
  const proxy = await startProxy(t, emu.url, { chunk: 64, paceMs: 50, paceIf: (body) => body.includes('count') });
  const p = provider(t, { env: emulatorEnv(proxy.url) });

  const invalid = await collect(p.stream({ messages: [] })).catch((e) => e);
  assert.equal(invalid.kind, 'validation');
  assert.match(invalid.message, /^validation: /);

  // Leave after the first event: the answer (~2 s at this pace) is cut off.
  const leftAt = Date.now();
  for await (const event of p.stream(ask('count from 1 to 400'))) {
    assert.equal(event.type, 'block_start');
    break;
  }
  const r = await p.complete(ask('Still there?'));
  assert.equal(r.content[0].text, 'Hello from the local Bedrock emulator! You said: Still there?');
  const cut = proxy.log.find((e) => e.cut);
  assert.ok(cut, 'the stream\'s connection was closed before its end');
  assert.ok(cut.closed - leftAt < 1000, `closed ${cut.closed - leftAt} ms after leaving`);
});
