// The provider interface through the transpiled component, against the local emulator: text,
// tools, thinking, info, models, token counting, hook events and errors with their prefixes.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BedrockError, ERROR_KINDS, environmentFor } from '../index.js';
import { ask, emulatorEnv, provider, startEmulator } from './helpers.js';

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

test('text: complete answers with the emulator\'s text, and the hook events pair up', async (t) => {
  const emu = await startEmulator(t);
  const events = [];
  const perCall = [];
  const p = provider(t, { env: emulatorEnv(emu.url), onEvent: (e) => events.push(e) });
  const r = await p.complete(ask('Hello'), { onEvent: (e) => perCall.push(e.name) });
  assert.deepEqual(r.content, [{ type: 'text', text: 'Hello from the local Bedrock emulator! You said: Hello' }]);
  assert.equal(r.finish_reason, 'stop');
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
  assert.deepEqual(
    events.map((e) => e.name),
    ['llm:request', 'llm:response'],
  );
  assert.deepEqual(perCall, ['llm:request', 'llm:response']);
  const [request, response] = events;
  assert.equal(request.data.provider, 'bedrock');
  assert.equal(request.data.message_count, 1);
  assert.equal(response.data.status, 'ok');
  assert.equal(response.data.request_id, request.data.request_id);
  // The signature never shows in an event.
  assert.ok(!JSON.stringify(events).includes('K7MDENG'));
});

test('tools: a tool_use answer comes back as tool_calls, and parseToolCalls finds them', async (t) => {
  const emu = await startEmulator(t);
  await emu.push({
    type: 'message',
    id: 'msg_tool_1',
    role: 'assistant',
    model: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
    content: [
      { type: 'text', text: 'Let me look that up.' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 40, output_tokens: 25 },
  });
  const p = provider(t, { env: emulatorEnv(emu.url) });
  const r = await p.complete(ask('What is the weather in Paris?', { tools: [WEATHER_TOOL] }));
  assert.equal(r.finish_reason, 'tool_calls');
  assert.deepEqual(r.tool_calls, [{ id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } }]);
  assert.deepEqual(await p.parseToolCalls(r), r.tool_calls);
  const [sent] = await emu.requests();
  assert.equal(sent.body.tools[0].name, 'get_weather');
  assert.deepEqual(sent.body.tools[0].input_schema, WEATHER_TOOL.parameters);
});

test('thinking: reasoning_effort high on Sonnet 5 (Messages API) gives a thinking block', async (t) => {
  const emu = await startEmulator(t);
  const p = provider(t, { env: emulatorEnv(emu.url) });
  const r = await p.complete(ask('Plan a trip', { model: 'anthropic.claude-sonnet-5', reasoning_effort: 'high' }));
  assert.equal(r.content[0].type, 'thinking');
  assert.ok(r.content[0].thinking.length > 0);
  assert.ok(r.content[0].signature.length > 0);
  assert.equal(r.content[1].type, 'text');
  assert.equal(r.metadata.model, 'anthropic.claude-sonnet-5');
  const [sent] = await emu.requests();
  assert.equal(sent.operation, 'messages');
  assert.deepEqual(sent.body.thinking, { type: 'adaptive', display: 'summarized' });
  assert.deepEqual(sent.body.output_config, { effort: 'high' });
});

test('getInfo, listModels and countTokens', async (t) => {
  const emu = await startEmulator(t);
  const p = provider(t, { env: emulatorEnv(emu.url) });
  const info = await p.getInfo();
  assert.equal(info.id, 'bedrock');
  const models = await p.listModels();
  assert.ok(Array.isArray(models) && models.length > 5);
  assert.ok(models.some((m) => m.id === 'anthropic.claude-sonnet-5'));
  const counted = await p.countTokens(ask('one two three'));
  assert.ok(counted.input_tokens > 0);
  assert.equal(typeof counted.model, 'string');
  assert.equal((await emu.requests()).at(-1).operation, 'count-tokens');
});

test('errors keep their prefix and carry it as kind: validation (nothing sent), auth, config', async (t) => {
  const emu = await startEmulator(t);
  const p = provider(t, { env: emulatorEnv(emu.url) });

  const invalid = await p.complete({ messages: [] }).catch((e) => e);
  assert.ok(invalid instanceof BedrockError && invalid instanceof Error);
  assert.equal(invalid.kind, 'validation');
  assert.equal(invalid.reason, 'validation');
  assert.match(invalid.message, /^validation: /);
  assert.equal((await emu.requests()).length, 0, 'a validation error sends nothing');

  const wrong = provider(t, { env: emulatorEnv(emu.url, { AWS_SECRET_ACCESS_KEY: 'not-the-secret' }) });
  const auth = await wrong.complete(ask('Hello')).catch((e) => e);
  assert.equal(auth.kind, 'auth');
  assert.equal(auth.reason, 'unauthenticated', 'a wrong secret is bad credentials, not access denied');
  assert.match(auth.message, /^auth: /);
  assert.ok(!auth.message.includes('not-the-secret'), 'the secret is not in the message');

  const noRegion = provider(t, { env: { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' } });
  const config = await noRegion.complete(ask('Hello')).catch((e) => e);
  assert.equal(config.kind, 'config');
  assert.match(config.message, /^config: /);

  const badValue = provider(t, { env: emulatorEnv(emu.url), config: { temperature: 'hot' } });
  const bad = await badValue.complete(ask('Hello')).catch((e) => e);
  assert.equal(bad.kind, 'config');
  assert.match(bad.message, /temperature/);

  // The instance still answers after errors.
  assert.equal((await p.complete(ask('again'))).content[0].text, 'Hello from the local Bedrock emulator! You said: again');
  assert.deepEqual(ERROR_KINDS, ['validation', 'config', 'auth', 'model', 'throttled', 'network', 'bedrock']);
});

test('config keys become BEDROCK_<KEY> variables; bad options are TypeErrors', () => {
  assert.deepEqual(
    environmentFor({
      config: { max_tokens: 512, debug: true, default_model: 'anthropic.claude-sonnet-5' },
      env: { AWS_REGION: 'eu-west-1' },
    }),
    {
      AWS_REGION: 'eu-west-1',
      BEDROCK_MAX_TOKENS: '512',
      BEDROCK_DEBUG: 'true',
      BEDROCK_DEFAULT_MODEL: 'anthropic.claude-sonnet-5',
    },
  );
  assert.throws(() => environmentFor({ env: { 'A=B': 'x' } }), TypeError);
  assert.throws(() => environmentFor({ config: { 'max-tokens': 1 } }), TypeError);
  assert.throws(() => environmentFor({ inheritEnv: 'AWS_PROFILE' }), TypeError);
});

test('config reaches the component: max_tokens and debug events', async (t) => {
  const emu = await startEmulator(t);
  const names = [];
  const p = provider(t, {
    env: emulatorEnv(emu.url),
    config: { max_tokens: 321, debug: true },
    onEvent: (e) => names.push(e.name),
  });
  await p.complete(ask('Hello'));
  const [sent] = await emu.requests();
  assert.equal(sent.body.max_tokens, 321);
  assert.ok(names.includes('llm:request:debug') && names.includes('llm:response:debug'), names.join(' '));
});

test('without npm run build: calls reject with an internal: error that says what to run', async (t) => {
  const { cp, mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'amplifier-provider-bedrock-nogen-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(new URL('../index.js', import.meta.url), join(dir, 'index.js'));
  await cp(new URL('../package.json', import.meta.url), join(dir, 'package.json'));
  const { BedrockProvider: Unbuilt } = await import(join(dir, 'index.js'));
  const p = new Unbuilt({});
  const error = await p.getInfo().catch((e) => e);
  assert.equal(error.kind, 'internal');
  assert.match(error.message, /^internal: the transpiled component is missing .*npm run build/);
  await p.close();
});
