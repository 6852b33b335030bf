#!/usr/bin/env node
// Transpiles the portable component (no wasi:config import) into js/gen/ with jco, in
// instantiation mode: the worker (lib/worker.js) passes every WASI import itself, so each
// provider instance gets its own environment and its own stderr.
//
// Which .wasm: $AMPLIFIER_BEDROCK_WASM when set; else the release artifact
// (../target/release-component/amplifier_provider_bedrock_portable.wasm, made by
// scripts/release-component) when present; else the build tree's
// (../target/component/wasm32-wasip2/component/amplifier_provider_bedrock_portable.wasm, made by
// `cargo build -p bedrock-host`). Skipped when gen/ already holds that exact .wasm (same SHA-256)
// transpiled by the same jco.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(pkg, '..');
const gen = join(pkg, 'gen');
const NAME = 'amplifier_provider_bedrock_portable.wasm';
const RELEASE = join(repo, 'target', 'release-component', NAME);
const BUILD_TREE = join(repo, 'target', 'component', 'wasm32-wasip2', 'release', NAME);

function pick() {
  const chosen = process.env.AMPLIFIER_BEDROCK_WASM;
  if (chosen) {
    if (!existsSync(chosen)) fail(`AMPLIFIER_BEDROCK_WASM is ${chosen}, which does not exist`);
    return { path: resolve(chosen), from: 'AMPLIFIER_BEDROCK_WASM' };
  }
  if (existsSync(RELEASE)) {
    if (existsSync(BUILD_TREE) && statSync(BUILD_TREE).mtimeMs > statSync(RELEASE).mtimeMs) {
      console.warn(
        `note: the release artifact is older than the build tree's portable component; run ` +
          `scripts/release-component, or set AMPLIFIER_BEDROCK_WASM=${relative(process.cwd(), BUILD_TREE)}`,
      );
    }
    return { path: RELEASE, from: 'release artifact (scripts/release-component)' };
  }
  if (existsSync(BUILD_TREE)) return { path: BUILD_TREE, from: 'build tree (cargo build -p bedrock-host)' };
  fail(
    `no portable component found: looked for ${RELEASE} and ${BUILD_TREE}. Build it with ` +
      '`cargo build -p bedrock-host` (or scripts/release-component) at the repository root, or ' +
      'point AMPLIFIER_BEDROCK_WASM at an amplifier_provider_bedrock_portable.wasm',
  );
}

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

const source = pick();
const bytes = readFileSync(source.path);
const sha256 = createHash('sha256').update(bytes).digest('hex');
const jcoVersion = JSON.parse(
  readFileSync(join(pkg, 'node_modules', '@bytecodealliance', 'jco', 'package.json'), 'utf8'),
).version;
const infoPath = join(gen, 'build-info.json');
if (existsSync(infoPath)) {
  try {
    const info = JSON.parse(readFileSync(infoPath, 'utf8'));
    if (info.sha256 === sha256 && info.jco === jcoVersion && existsSync(join(gen, 'provider.js'))) {
      console.log(`build: gen/ is up to date (${source.path}, sha256 ${sha256.slice(0, 12)}…)`);
      process.exit(0);
    }
  } catch {
    // rebuild
  }
}

const { transpile } = await import('@bytecodealliance/jco');
const started = Date.now();
const { files, imports } = await transpile(bytes, {
  name: 'provider',
  instantiation: 'async',
  quiet: true,
});
const forbidden = imports.filter((i) => i.startsWith('wasi:config'));
if (forbidden.length) {
  fail(`${source.path} imports ${forbidden.join(', ')}: that is the default build; use the portable one (${NAME})`);
}
rmSync(gen, { recursive: true, force: true });
for (const [name, content] of Object.entries(files)) {
  const path = join(gen, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}
// The generated bindings are ES modules; this package.json says so whatever the parent's says.
writeFileSync(join(gen, 'package.json'), JSON.stringify({ type: 'module' }) + '\n');
const info = {
  source: source.path,
  from: source.from,
  bytes: bytes.length,
  sha256,
  jco: jcoVersion,
  imports,
  built: new Date().toISOString(),
};
writeFileSync(infoPath, JSON.stringify(info, null, 2) + '\n');
console.log(
  `build: transpiled ${source.path} (${source.from}, ${bytes.length} bytes) with jco ${jcoVersion} ` +
    `into gen/ in ${Date.now() - started} ms`,
);
