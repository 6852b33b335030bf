// Each instance sees exactly its own environment: its `config` (as BEDROCK_<KEY>), its `env`,
// and the process.env variables named in `inheritEnv`; nothing else from process.env.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ask, emulatorEnv, provider, startEmulator, startProxy } from './helpers.js';

test('two instances with different credentials, concurrently: one answers, the other gets auth:', async (t) => {
  const emu = await startEmulator(t);
  // Each request is held 1 s, so the calls overlap only if they run in parallel.
  const proxy = await startProxy(t, emu.url, { delayMs: (body) => (body.includes('from the') ? 1000 : 0) });
  const right = provider(t, { env: emulatorEnv(proxy.url) });
  const wrong = provider(t, { env: emulatorEnv(proxy.url, { AWS_ACCESS_KEY_ID: 'AKIDNOTTHEEMULATOR01', AWS_SECRET_ACCESS_KEY: 'wrong/secret' }) });
  await Promise.all([right.getInfo(), wrong.getInfo()]); // both workers up
  const started = Date.now();
  const [ok, failed] = await Promise.allSettled([right.complete(ask('from the right one')), wrong.complete(ask('from the wrong one'))]);
  const elapsed = Date.now() - started;
  assert.equal(ok.status, 'fulfilled', String(ok.reason));
  assert.equal(ok.value.content[0].text, 'Hello from the local Bedrock emulator! You said: from the right one');
  assert.equal(failed.status, 'rejected');
  assert.equal(failed.reason.kind, 'auth');
  assert.match(failed.reason.message, /^auth: /);
  assert.ok(elapsed < 1900, `both took ${elapsed} ms: they ran concurrently`);
  // And again the other way round in time: the right one is still right, the wrong one still wrong.
  assert.equal((await wrong.complete(ask('again')).catch((e) => e)).kind, 'auth');
  assert.equal((await right.complete(ask('again'))).content[0].text, 'Hello from the local Bedrock emulator! You said: again');
});

test('nothing from process.env reaches the component unless passed', async (t) => {
  const emu = await startEmulator(t);
  const canaries = {
    BEDROCK_MAX_TOKENS: '7',
    BEDROCK_CANARY_FROM_PARENT: 'seen',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDEMULATOREXAMPLE01',
    AWS_SECRET_ACCESS_KEY: 'emulator/K7MDENG+bPxRfiCYEXAMPLEKEY0000001',
    AWS_ENDPOINT_URL: emu.url,
  };
  const saved = Object.fromEntries(Object.keys(canaries).map((k) => [k, process.env[k]]));
  Object.assign(process.env, canaries);
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  // Everything needed is in process.env, but an instance given nothing has no region.
  const bare = provider(t, {});
  const error = await bare.complete(ask('Hello')).catch((e) => e);
  assert.equal(error.kind, 'config', error.message);
  assert.match(error.message, /region/);

  // Given its own env: process.env's BEDROCK_MAX_TOKENS=7 does not change max_tokens, and the
  // component sees no BEDROCK_CANARY_FROM_PARENT (it warns about every unknown BEDROCK_ key).
  const events = [];
  const own = provider(t, { env: emulatorEnv(emu.url), onEvent: (e) => events.push(e) });
  await own.complete(ask('Hello'));
  let [sent] = await emu.requests();
  assert.equal(sent.body.max_tokens, 8192);
  assert.deepEqual(events.filter((e) => e.name === 'provider:config_warning'), []);

  // Named in inheritEnv, the same variables do reach it.
  const inheriting = provider(t, {
    env: emulatorEnv(emu.url),
    inheritEnv: ['BEDROCK_MAX_TOKENS', 'BEDROCK_CANARY_FROM_PARENT', 'NOT_SET_ANYWHERE'],
    onEvent: (e) => events.push(e),
  });
  await inheriting.complete(ask('Hello'));
  [, sent] = await emu.requests();
  assert.equal(sent.body.max_tokens, 7);
  assert.deepEqual(
    events.filter((e) => e.name === 'provider:config_warning').map((e) => e.data.key),
    ['canary_from_parent'],
  );
});

test('config per instance: two instances with different max_tokens', async (t) => {
  const emu = await startEmulator(t);
  const small = provider(t, { env: emulatorEnv(emu.url), config: { max_tokens: 100 } });
  const large = provider(t, { env: emulatorEnv(emu.url), config: { max_tokens: 2000 } });
  await Promise.all([small.complete(ask('small')), large.complete(ask('large'))]);
  const byText = Object.fromEntries((await emu.requests()).map((r) => [r.body.messages[0].content[0].text, r.body.max_tokens]));
  assert.deepEqual(byText, { small: 100, large: 2000 });
});
