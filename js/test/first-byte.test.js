// A first byte after 15 s still succeeds: the component's own limits are long (timeout and
// first_byte_timeout: 300 s) and nothing in the Node.js host cuts the wait short.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ask, emulatorEnv, provider, startEmulator, startProxy } from './helpers.js';

const HOLD_MS = 15_000;

test('a first byte after 15 s: complete and stream both succeed', async (t) => {
  const emu = await startEmulator(t);
  const proxy = await startProxy(t, emu.url, { delayMs: () => HOLD_MS });
  const completing = provider(t, { env: emulatorEnv(proxy.url) });
  const streaming = provider(t, { env: emulatorEnv(proxy.url) });
  const started = Date.now();
  const [response, events] = await Promise.all([
    completing.complete(ask('take your time')),
    (async () => {
      const out = [];
      for await (const event of streaming.stream(ask('take your time too'))) out.push(event);
      return out;
    })(),
  ]);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= HOLD_MS, `${elapsed} ms`);
  assert.equal(response.content[0].text, 'Hello from the local Bedrock emulator! You said: take your time');
  assert.equal(events.at(-1).type, 'done');
  assert.ok(events.some((e) => e.type === 'delta' && e.text === 'Hello from the local Bedrock emulator! You said: take your time too'));
});
