// The README's install and example, as a user runs them: `npm pack` this package, install the
// tarball into a fresh app, and run the README's Node.js example (taken from README.md) against
// the emulator, with the credentials in the app's environment.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, startEmulator } from './helpers.js';

const run = promisify(execFile);
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The first ```js block of the README's "## Node.js" section. */
async function readmeExample() {
  const readme = await readFile(join(pkg, '..', 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Node.js\n'));
  assert.ok(section, 'README.md has a "## Node.js" section');
  const m = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the Node.js section has a js example');
  return m[1];
}

/** This environment without npm's own variables (npm test sets them; a nested npm would read them). */
function cleanEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return { ...env, ...extra };
}

test('README: npm pack, install into a fresh app, run the example', async (t) => {
  const example = await readmeExample();
  const emu = await startEmulator(t);
  const dir = await mkdtemp(join(tmpdir(), 'amplifier-provider-bedrock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));

  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: pkg, env: cleanEnv() });
  const [{ filename, files }] = JSON.parse(packed.stdout);
  assert.ok(files.some((f) => f.path === 'gen/provider.core.wasm'), 'the tarball carries the transpiled component');

  const app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, filename)], {
    cwd: app,
    env: cleanEnv(),
  });
  await writeFile(join(app, 'example.js'), example);

  const env = cleanEnv({
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    AWS_ENDPOINT_URL: emu.url,
  });
  delete env.AWS_SESSION_TOKEN;
  const { stdout, stderr } = await run(process.execPath, ['example.js'], { cwd: app, env, timeout: 60_000 });
  assert.equal(
    stdout,
    'Hello from the local Bedrock emulator! You said: Hello\n' +
      'Hello from the local Bedrock emulator! You said: Write a haiku about Wasm',
  );
  assert.match(stderr, /^llm:request$/m);
  assert.match(stderr, /^llm:stream_block_delta$/m);
  const sent = await emu.requests();
  assert.deepEqual(
    sent.map((r) => [r.operation, r.model_id, r.body.max_tokens]),
    [
      ['messages', 'anthropic.claude-sonnet-5', 4096],
      ['messages', 'anthropic.claude-sonnet-5', 4096],
    ],
  );
});
