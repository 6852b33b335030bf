// Anthropic Claude on AWS Bedrock for Node.js: the amplifier-provider-bedrock WebAssembly
// component (its portable build, transpiled by jco into gen/ at build time) behind an async API.
//
// Each BedrockProvider runs its own copy of the component in its own worker thread, with the
// environment computed from its options and nothing else; the main thread only posts calls and
// receives answers, events and stream events, so it never blocks. See README.md ("Node.js").
import { readdir, readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

const GEN_DIR = new URL('./gen/', import.meta.url);
const BINDINGS = new URL('./gen/provider.js', import.meta.url).href;
const WORKER = new URL('./lib/worker.js', import.meta.url);

/** The prefixes of the component's errors (README "Errors"), in the order the README lists them. */
export const ERROR_KINDS = Object.freeze(['validation', 'config', 'auth', 'model', 'throttled', 'network', 'bedrock']);

/**
 * The component's typed error kinds (WIT `errors.error-kind`) and the prefix each starts its
 * message with: `auth` and `network` are split so a caller can tell access denied from bad
 * credentials and a timeout from an unreachable endpoint.
 */
export const ERROR_REASONS = Object.freeze({
  validation: 'validation',
  config: 'config',
  unauthenticated: 'auth',
  'access-denied': 'auth',
  model: 'model',
  throttled: 'throttled',
  'timed-out': 'network',
  unreachable: 'network',
  unavailable: 'bedrock',
  bedrock: 'bedrock',
});

/**
 * An error from the provider: `message` is the component's, prefix included; `kind` is the
 * prefix; `reason` the component's typed kind (`access-denied`, `timed-out`, …) when it gave one.
 */
export class BedrockError extends Error {
  constructor(message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BedrockError';
    /** `validation`, `config`, `auth`, `model`, `throttled`, `network`, `bedrock`, or `internal`. */
    this.kind = options.kind ?? ERROR_REASONS[options.reason] ?? errorKind(message);
    /** The component's typed kind (a key of ERROR_REASONS), or undefined. */
    this.reason = options.reason;
  }
}

/** The kind of an error message: its prefix when it is one of ERROR_KINDS, else `internal`. */
export function errorKind(message) {
  const m = /^([a-z]+):/.exec(String(message));
  return m && ERROR_KINDS.includes(m[1]) ? m[1] : 'internal';
}

function internal(message, cause) {
  return new BedrockError(`internal: ${message}`, { kind: 'internal', cause });
}

/** The AbortError a call aborted by `signal` rejects with (the signal's reason when it is one). */
function abortError(signal) {
  const reason = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('The operation was aborted', { name: 'AbortError', cause: reason });
}

// The component's core modules, compiled once per process and shared by every worker (a
// WebAssembly.Module is passed to a worker without copying or recompiling it).
let compiled = null;
function coreModules() {
  compiled ??= (async () => {
    let names = [];
    try {
      names = (await readdir(GEN_DIR)).filter((n) => n.endsWith('.wasm'));
    } catch {
      // reported below
    }
    if (!names.length) {
      throw internal('the transpiled component is missing (gen/ in the package): run `npm run build` first');
    }
    const entries = await Promise.all(
      names.map(async (n) => [n, await WebAssembly.compile(await readFile(new URL(n, GEN_DIR)))]),
    );
    return Object.fromEntries(entries);
  })();
  compiled.catch(() => {
    compiled = null;
  });
  return compiled;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The component's environment for these options: `inheritEnv` names copied from process.env,
 * then `env`, then each `config` key as BEDROCK_<KEY upper-case> (later ones win).
 */
export function environmentFor({ config = {}, env = {}, inheritEnv = [] } = {}) {
  const out = {};
  if (!Array.isArray(inheritEnv)) throw new TypeError('inheritEnv must be an array of variable names');
  for (const name of inheritEnv) {
    if (typeof name !== 'string' || !NAME.test(name)) throw new TypeError(`inheritEnv: ${String(name)} is not a variable name`);
    if (process.env[name] !== undefined) out[name] = process.env[name];
  }
  for (const [name, value] of Object.entries(env ?? {})) {
    if (!NAME.test(name)) throw new TypeError(`env: ${name} is not a variable name`);
    if (value === undefined || value === null) continue;
    out[name] = String(value);
  }
  for (const [key, value] of Object.entries(config ?? {})) {
    if (!/^[A-Za-z0-9_]+$/.test(key)) throw new TypeError(`config: ${key} is not a config key`);
    if (value === undefined || value === null) continue;
    out[`BEDROCK_${key.toUpperCase()}`] = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return out;
}

function requestText(value, what) {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  if (value === undefined || value === null || typeof value !== 'object') {
    throw new TypeError(`${what} must be an object (or its JSON text)`);
  }
  return JSON.stringify(value);
}

function defaultLog(line, stream) {
  process.stderr.write(`[amplifier-provider-bedrock ${stream}] ${line}\n`);
}

function callback(fn, ...args) {
  if (typeof fn !== 'function') return;
  try {
    fn(...args);
  } catch (e) {
    process.emitWarning(`a BedrockProvider callback threw: ${e?.stack ?? e}`, 'BedrockProviderWarning');
  }
}

/** A stream's consumer side: events buffered until asked for, then the end or the error. */
class StreamState {
  buffer = [];
  waiter = null;
  ended = false; // the worker has finished
  error = null; // the call failed (delivered after the buffered events)
  finished = false; // the consumer has seen the end, the error, or returned

  push(event) {
    if (this.finished) return;
    if (this.waiter) {
      this.waiter.resolve({ value: event, done: false });
      this.waiter = null;
    } else {
      this.buffer.push(event);
    }
  }

  end() {
    this.ended = true;
    if (this.waiter && !this.finished) {
      this.finished = true;
      this.waiter.resolve({ value: undefined, done: true });
      this.waiter = null;
    }
  }

  fail(error, { now = false } = {}) {
    if (this.finished) return;
    this.ended = true;
    this.error = error;
    if (now) this.buffer = [];
    if (this.waiter) {
      this.finished = true;
      this.waiter.reject(error);
      this.waiter = null;
    }
  }

  next() {
    if (this.buffer.length) return Promise.resolve({ value: this.buffer.shift(), done: false });
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    if (this.error) {
      this.finished = true;
      return Promise.reject(this.error);
    }
    if (this.ended) {
      this.finished = true;
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }
}

/**
 * The provider: one component instance in one worker thread, calls run one at a time in the
 * order made (make several providers to run calls in parallel).
 */
export class BedrockProvider {
  #env;
  #onEvent;
  #onLog;
  #worker = null;
  #ready = false;
  #starting = false;
  #queue = [];
  #current = null;
  #seq = 0;
  #closed = false;

  /**
   * @param {object} [options]
   * @param {Record<string, string|number|boolean>} [options.config] config keys (README
   *   "Configuration"), given to the component as BEDROCK_<KEY> variables
   * @param {Record<string, string>} [options.env] variables given to the component as they are
   *   (AWS_REGION, AWS_ACCESS_KEY_ID, …); nothing from process.env is, unless named here or in
   *   `inheritEnv`
   * @param {string[]} [options.inheritEnv] names of process.env variables to copy, when set
   * @param {(event: {name: string, data: object}) => void} [options.onEvent] hook events
   * @param {(line: string, stream: 'stderr'|'stdout') => void} [options.onLog] other output
   */
  constructor(options = {}) {
    const { onEvent, onLog } = options;
    if (onEvent !== undefined && typeof onEvent !== 'function') throw new TypeError('onEvent must be a function');
    if (onLog !== undefined && typeof onLog !== 'function') throw new TypeError('onLog must be a function');
    this.#env = Object.freeze(environmentFor(options));
    this.#onEvent = onEvent;
    this.#onLog = onLog ?? defaultLog;
    this.#start();
  }

  /** The ProviderInfo (id, display name, config fields, …). */
  async getInfo(options) {
    return JSON.parse(await this.#call('getInfo', '', options));
  }

  /** The ModelInfo list. */
  async listModels(options) {
    return JSON.parse(await this.#call('listModels', '', options));
  }

  /** One ChatRequest → its ChatResponse. */
  async complete(request, options) {
    return JSON.parse(await this.#call('complete', requestText(request, 'request'), options));
  }

  /** The input tokens a ChatRequest would use: `{input_tokens, model, request_id}`. */
  async countTokens(request, options) {
    return JSON.parse(await this.#call('countTokens', requestText(request, 'request'), options));
  }

  /** The tool calls of a ChatResponse. */
  async parseToolCalls(response, options) {
    return JSON.parse(await this.#call('parseToolCalls', requestText(response, 'response'), options));
  }

  /**
   * One ChatRequest streamed: an async iterator of the component's stream events
   * (`block_start`, `delta`, `block_stop`, `usage`, `done`), each yielded as it arrives. Errors
   * (including validation errors) reject the iterator's next(). Leaving the loop early closes
   * the connection (the instance's worker is replaced, as on abort).
   */
  stream(request, options = {}) {
    const stream = new StreamState();
    let payload;
    try {
      payload = requestText(request, 'request');
    } catch (e) {
      stream.fail(e);
    }
    let call = null;
    if (payload !== undefined) {
      try {
        call = this.#enqueue('stream', payload, options, stream);
      } catch (e) {
        stream.fail(e);
      }
    }
    const provider = this;
    const signal = options?.signal;
    return {
      next() {
        // Aborted after the worker had finished: the consumer stops all the same.
        if (signal?.aborted && !stream.finished) {
          stream.finished = true;
          stream.buffer = [];
          if (call && !call.done) provider.#abort(call);
          return Promise.reject(abortError(signal));
        }
        return stream.next();
      },
      return(value) {
        if (!stream.finished) {
          stream.finished = true;
          stream.buffer = [];
          if (call && !call.done) {
            provider.#cancel(call);
            provider.#detach(call);
          }
        }
        return Promise.resolve({ value, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /** Stops the worker; calls in flight or waiting reject. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    const error = internal('the provider was closed');
    for (const call of [this.#current, ...this.#queue]) if (call) this.#settle(call, error);
    this.#queue = [];
    this.#current = null;
    const worker = this.#worker;
    this.#worker = null;
    if (worker) await worker.terminate();
  }

  [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    return this.close();
  }

  // ---- calls ----

  #call(op, payload, options = {}) {
    return new Promise((resolve, reject) => {
      this.#enqueue(op, payload, options, { resolve, reject });
    });
  }

  #enqueue(op, payload, options, sink) {
    const { signal, onEvent } = options ?? {};
    if (onEvent !== undefined && typeof onEvent !== 'function') throw new TypeError('onEvent must be a function');
    const call = { seq: ++this.#seq, op, payload, sink, onEvent, signal, onAbort: null, done: false };
    if (this.#closed) {
      this.#settle(call, internal('the provider was closed'));
      return call;
    }
    if (signal?.aborted) {
      this.#settle(call, abortError(signal));
      return call;
    }
    if (signal) {
      call.onAbort = () => this.#abort(call);
      signal.addEventListener('abort', call.onAbort, { once: true });
    }
    this.#queue.push(call);
    this.#pump();
    return call;
  }

  /** The call is over: its abort listener goes. */
  #detach(call) {
    call.done = true;
    if (call.onAbort) call.signal.removeEventListener('abort', call.onAbort);
    call.onAbort = null;
  }

  /** Settles a call: its promise, or its stream's end or error. */
  #settle(call, error, value) {
    if (call.done) return;
    this.#detach(call);
    const { sink } = call;
    if (sink instanceof StreamState) {
      if (error) sink.fail(error, { now: error.name === 'AbortError' });
      else sink.end();
    } else if (error) {
      sink.reject(error);
    } else {
      sink.resolve(value);
    }
  }

  #abort(call) {
    if (call.done) return;
    this.#settle(call, abortError(call.signal));
    this.#cancel(call);
  }

  /** Takes a call back: out of the queue, or out of the worker by replacing the worker. */
  #cancel(call) {
    const queued = this.#queue.indexOf(call);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
    } else if (this.#current === call) {
      this.#current = null;
      this.#restart();
    }
    this.#pump();
  }

  #pump() {
    if (this.#closed || this.#current || !this.#queue.length) return this.#updateRef();
    if (!this.#worker) {
      if (!this.#starting) this.#start();
      return this.#updateRef();
    }
    if (!this.#ready) return this.#updateRef();
    const call = this.#queue.shift();
    this.#current = call;
    this.#worker.postMessage({ seq: call.seq, op: call.op, payload: call.payload });
    this.#updateRef();
  }

  /** A worker keeps the process alive only while it has a call to run. */
  #updateRef() {
    const worker = this.#worker;
    if (!worker) return;
    if (this.#current || this.#queue.length) worker.ref();
    else worker.unref();
  }

  // ---- the worker ----

  #start() {
    if (this.#closed || this.#starting || this.#worker) return;
    this.#starting = true;
    this.#ready = false;
    coreModules().then(
      (modules) => {
        this.#starting = false;
        if (this.#closed || this.#worker) return;
        this.#spawn(modules);
      },
      (error) => {
        this.#starting = false;
        this.#failAll(error);
      },
    );
  }

  #spawn(modules) {
    const worker = new Worker(WORKER, {
      // The worker's process.env: empty, whatever the parent's holds (inherited by the shim's
      // io thread too). The component's own environment is workerData.env, nothing else.
      env: {},
      workerData: { env: this.#env, modules, bindings: BINDINGS },
    });
    this.#worker = worker;
    const current = () => this.#worker === worker;
    worker.on('message', (msg) => {
      if (current()) this.#message(msg);
    });
    worker.on('error', (error) => {
      if (current()) this.#crash(internal(`the provider's worker failed: ${error?.message ?? error}`, error));
    });
    worker.on('exit', (code) => {
      if (current()) this.#crash(internal(`the provider's worker stopped (exit code ${code})`));
    });
    this.#updateRef();
  }

  #message(msg) {
    switch (msg.t) {
      case 'ready':
        this.#ready = true;
        this.#pump();
        break;
      case 'fatal':
        this.#crash(internal(msg.message), { retry: false });
        break;
      case 'line':
        this.#line(msg);
        break;
      case 'event': {
        const call = this.#current;
        if (call?.seq === msg.seq && call.sink instanceof StreamState) {
          let event;
          try {
            event = JSON.parse(msg.event);
          } catch {
            event = { type: 'unparsed', text: msg.event };
          }
          call.sink.push(event);
        }
        break;
      }
      case 'ok':
      case 'error': {
        const call = this.#current;
        if (call?.seq !== msg.seq) break;
        this.#current = null;
        if (msg.t === 'ok') {
          this.#settle(call, null, msg.value);
        } else if (msg.trap) {
          this.#settle(call, internal(`the component trapped: ${msg.message}`));
          // A trapped instance cannot be used again.
          this.#restart();
        } else {
          this.#settle(call, new BedrockError(msg.message, { reason: msg.reason }));
        }
        this.#pump();
        break;
      }
    }
  }

  /** A line the component wrote: a hook event (stderr), else for onLog. */
  #line({ stream, line }) {
    if (stream === 'stderr' && line.startsWith('{"amplifier_event"')) {
      let parsed = null;
      try {
        parsed = JSON.parse(line);
      } catch {
        // not an event after all
      }
      if (parsed && typeof parsed.amplifier_event === 'string') {
        const event = { name: parsed.amplifier_event, data: parsed.data ?? {} };
        callback(this.#onEvent, event);
        callback(this.#current?.onEvent, event);
        return;
      }
    }
    callback(this.#onLog, line, stream);
  }

  /** Replaces the worker (abort, early return, trap): the old one is stopped at once. */
  #restart() {
    const worker = this.#worker;
    this.#worker = null;
    this.#ready = false;
    if (worker) worker.terminate().catch(() => {});
    this.#start();
  }

  /** The worker died on its own: the call in flight fails; the next call gets a new worker. */
  #crash(error, { retry = true } = {}) {
    const worker = this.#worker;
    this.#worker = null;
    this.#ready = false;
    if (worker) worker.terminate().catch(() => {});
    const call = this.#current;
    this.#current = null;
    if (call) this.#settle(call, error);
    if (!retry) return this.#failAll(error);
    this.#pump();
  }

  #failAll(error) {
    const calls = this.#queue;
    this.#queue = [];
    for (const call of calls) this.#settle(call, error);
  }
}

export default BedrockProvider;
