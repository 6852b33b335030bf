// index.d.ts describes the API: a usage file type-checks (strict), and misuse is refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

test('index.d.ts: the usage file type-checks with tsc --strict', () => {
  // typescript (a devDependency) does not export its bin; it is where npm puts it.
  const tsc = join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [
    tsc,
    '--noEmit',
    '--strict',
    '--target', 'es2022',
    '--module', 'nodenext',
    '--moduleResolution', 'nodenext',
    '--lib', 'es2022,esnext.disposable,esnext.asynciterable,dom',
    join(here, 'types-usage.ts'),
  ];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(run.status, 0, `tsc failed:\n${run.stdout}${run.stderr}`);
});
