// Cancellation: an AbortSignal per call. Aborting the call in flight stops its worker (closing
// its connection) and starts a fresh one; the call rejects with an AbortError at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ask, emulatorEnv, provider, startEmulator, startProxy } from './helpers.js';

/** A proxy that holds any request whose prompt contains "slow" for 10 s. */
async function slowProxy(t, emu) {
  return startProxy(t, emu.url, { delayMs: (body) => (body.includes('slow') ? 10_000 : 0) });
}

test('abort: a complete in flight rejects promptly with an AbortError; the next call works', async (t) => {
  const emu = await startEmulator(t);
  const proxy = await slowProxy(t, emu);
  const p = provider(t, { env: emulatorEnv(proxy.url) });
  await p.getInfo(); // the worker is up

  const controller = new AbortController();
  const call = p.complete(ask('slow please'), { signal: controller.signal }).catch((e) => e);
  // Aborted once the request is in flight (the proxy holds it), however long a loaded machine
  // takes to send it: aborted before that, nothing would be held, and the connection looked at
  // below would be the next call's.
  for (let waited = 0; proxy.log.length === 0 && waited < 8000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(proxy.log.length, 1, 'the call reached the proxy');
  const abortAt = Date.now();
  controller.abort();
  const error = await call;
  const aborted = Date.now();
  assert.equal(error.name, 'AbortError');
  assert.ok(aborted - abortAt < 1000, `rejected ${aborted - abortAt} ms after the abort`);

  const r = await p.complete(ask('fast now'));
  assert.equal(r.content[0].text, 'Hello from the local Bedrock emulator! You said: fast now');
  // The worker is stopped in the background: its connection closes soon after the abort, and
  // long before the proxy's 10 s hold would have answered it. Waited for rather than read at
  // once, since a loaded machine can take a second or two to end the old worker.
  const [held] = proxy.log;
  for (let waited = 0; !held.closed && waited < 8000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(held.cut && held.closed - aborted < 8000, `the aborted call's connection was closed (${held.closed ? held.closed - aborted : 'not'} ms after the abort)`);
});

test('abort: a stream in flight rejects next() with an AbortError; the next stream works', async (t) => {
  const emu = await startEmulator(t);
  const proxy = await startProxy(t, emu.url, { chunk: 128, paceMs: 100, paceIf: (body) => body.includes('count') });
  const p = provider(t, { env: emulatorEnv(proxy.url) });
  const controller = new AbortController();
  const seen = [];
  let abortedAt = 0;
  const error = await (async () => {
    for await (const event of p.stream(ask('count from 1 to 500'), { signal: controller.signal })) {
      seen.push(event.type);
      abortedAt = Date.now();
      controller.abort();
    }
  })().catch((e) => e);
  assert.equal(error?.name, 'AbortError');
  assert.ok(Date.now() - abortedAt < 500);
  assert.deepEqual(seen, ['block_start']);

  const again = [];
  for await (const event of p.stream(ask('short'))) again.push(event.type);
  assert.equal(again.at(-1), 'done');
});

test('abort: a queued call leaves the one in flight alone; a signal already aborted sends nothing', async (t) => {
  const emu = await startEmulator(t);
  const proxy = await startProxy(t, emu.url, { delayMs: (body) => (body.includes('first') ? 1500 : 0) });
  const p = provider(t, { env: emulatorEnv(proxy.url) });

  const first = p.complete(ask('first'));
  const controller = new AbortController();
  const queued = p.complete(ask('second'), { signal: controller.signal });
  const third = p.complete(ask('third'));
  await new Promise((r) => setTimeout(r, 200));
  controller.abort();
  assert.equal((await queued.catch((e) => e)).name, 'AbortError');
  assert.equal((await first).content[0].text, 'Hello from the local Bedrock emulator! You said: first');
  assert.equal((await third).content[0].text, 'Hello from the local Bedrock emulator! You said: third');

  const before = (await emu.requests()).length;
  const pre = await p.complete(ask('never'), { signal: AbortSignal.abort() }).catch((e) => e);
  assert.equal(pre.name, 'AbortError');
  const timedOut = await p.complete(ask('slow first'), { signal: AbortSignal.timeout(300) }).catch((e) => e);
  assert.equal(timedOut.name, 'AbortError');
  assert.equal(timedOut.cause?.name, 'TimeoutError');
  assert.equal((await emu.requests()).length, before, 'neither reached Bedrock');
  assert.deepEqual(
    (await emu.requests()).map((r) => r.body.messages[0].content[0].text),
    ['first', 'third'],
  );
});
