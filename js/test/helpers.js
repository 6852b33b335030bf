// Test helpers: the local Bedrock emulator (bedrock-host emulator), a proxy in front of it that
// delays or paces answers, and providers that are closed when the test ends.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { BedrockProvider } from '../index.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The emulator's IAM credentials and region (it accepts any region). */
export const ACCESS_KEY_ID = 'AKIDEMULATOREXAMPLE01';
export const SECRET_ACCESS_KEY = 'emulator/K7MDENG+bPxRfiCYEXAMPLEKEY0000001';
export const REGION = 'us-east-1';

/** bedrock-host: $BEDROCK_HOST_BIN, else the repository's debug build. */
export function hostBin() {
  const bin = process.env.BEDROCK_HOST_BIN || resolve(here, '..', '..', 'target', 'debug', 'bedrock-host');
  if (!existsSync(bin)) {
    throw new Error(
      `bedrock-host not found at ${bin}: run \`cargo build -p bedrock-host\` at the repository root, ` +
        'or set BEDROCK_HOST_BIN',
    );
  }
  return bin;
}

/**
 * Starts `bedrock-host emulator --port 0` for test `t` (stopped when it ends). Returns its URL,
 * `push(message)` (POST /_emulator/push: the next call's Anthropic message) and `requests()`
 * (GET /_emulator/requests: what it received).
 */
export async function startEmulator(t) {
  const child = spawn(hostBin(), ['emulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the emulator did not start within 20 s:\n${output}`)), 20_000);
    const seen = (chunk) => {
      output += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the emulator exited (${code}) before listening:\n${output}`));
    });
  });
  child.stdout.resume();
  child.stderr.resume();
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  };
  t?.after(stop);
  return {
    url,
    stop,
    async push(message) {
      const r = await fetch(`${url}/_emulator/push`, { method: 'POST', body: JSON.stringify(message) });
      if (!r.ok) throw new Error(`push: ${r.status} ${await r.text()}`);
    },
    async requests() {
      const r = await fetch(`${url}/_emulator/requests`);
      return r.json();
    },
  };
}

/** The variables that point a provider at `url` with the emulator's credentials. */
export function emulatorEnv(url, overrides = {}) {
  return {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    AWS_ENDPOINT_URL: url,
    ...overrides,
  };
}

/** A provider closed when test `t` ends. */
export function provider(t, options) {
  const p = new BedrockProvider(options);
  t.after(() => p.close());
  return p;
}

/**
 * An HTTP proxy in front of `target` (the emulator has no HTTP control for delays or pacing):
 * each request is forwarded unchanged (Host included, so SigV4 still checks out) after
 * `delayMs(body)` milliseconds; the answer is then relayed in pieces of `chunk` bytes with
 * `paceMs` between them (0: at once), for the requests `paceIf(body)` accepts. `log` lists when each request arrived, was answered (headers), ended and
 * closed, and whether the client went away before the end (`cut`).
 */
export async function startProxy(t, target, { delayMs = () => 0, chunk = 0, paceMs = 0, paceIf = () => true } = {}) {
  const upstream = new URL(target);
  const log = [];
  const sockets = new Set();
  const stopping = new AbortController();
  const wait = (ms) => sleep(ms, stopping.signal);
  const server = http.createServer(async (req, res) => {
    const entry = { arrived: Date.now(), path: req.url, closed: false };
    log.push(entry);
    res.on('close', () => {
      entry.closed = Date.now();
      // The client went away before the whole answer was sent.
      entry.cut = !res.writableFinished;
    });
    try {
      const parts = [];
      for await (const part of req) parts.push(part);
      const body = Buffer.concat(parts);
      const text = body.toString('utf8');
      const ms = delayMs(text);
      if (ms > 0) await wait(ms);
      const pieces = paceIf(text) ? chunk : 0;
      if (res.destroyed) return;
      const answer = await new Promise((resolve, reject) => {
        const out = http.request(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (r) => {
            const chunks = [];
            r.on('data', (c) => chunks.push(c));
            r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
            r.on('error', reject);
          },
        );
        out.on('error', reject);
        out.end(body);
      });
      const headers = { ...answer.headers };
      for (const h of ['connection', 'keep-alive', 'transfer-encoding', 'content-length']) delete headers[h];
      if (!pieces) headers['content-length'] = String(answer.body.length);
      res.writeHead(answer.status, headers);
      entry.answered = Date.now();
      if (!pieces) {
        res.end(answer.body);
        entry.ended = Date.now();
        return;
      }
      for (let i = 0; i < answer.body.length && !res.destroyed; i += pieces) {
        res.write(answer.body.subarray(i, i + pieces));
        if (paceMs) await wait(paceMs);
      }
      res.end();
      entry.ended = Date.now();
    } catch (e) {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${e.message}`);
      } else {
        res.destroy();
      }
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stop = () =>
    new Promise((resolve) => {
      stopping.abort();
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  t?.after(stop);
  return { url: `http://127.0.0.1:${server.address().port}`, log, stop };
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export function sleep(ms, signal) {
  return delay(ms, undefined, { signal });
}

/** A user turn. */
export function ask(text, extra = {}) {
  return { messages: [{ role: 'user', content: text }], ...extra };
}
