// The event loop keeps time while a call is in flight: the component runs (and blocks) in the
// instance's worker thread, never on the main thread.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ask, emulatorEnv, provider, startEmulator, startProxy } from './helpers.js';

test('a 100 ms interval keeps ticking during a 3 s call', async (t) => {
  const emu = await startEmulator(t);
  const proxy = await startProxy(t, emu.url, { delayMs: () => 3000 });
  const p = provider(t, { env: emulatorEnv(proxy.url) });
  await p.getInfo();
  const ticks = [];
  const timer = setInterval(() => ticks.push(Date.now()), 100);
  const started = Date.now();
  try {
    const r = await p.complete(ask('slowly'));
    assert.equal(r.content[0].text, 'Hello from the local Bedrock emulator! You said: slowly');
  } finally {
    clearInterval(timer);
  }
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 3000, `${elapsed} ms`);
  // Blocked, it would tick once or twice; the margins allow for a loaded machine.
  assert.ok(ticks.length >= 20, `${ticks.length} ticks in ${elapsed} ms`);
  const gaps = ticks.slice(1).map((at, i) => at - ticks[i]);
  assert.ok(Math.max(...gaps) < 1000, `longest gap between ticks: ${Math.max(...gaps)} ms`);
});
