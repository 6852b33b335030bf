// One provider instance's thread: instantiates the transpiled component with WASI imports of its
// own and runs one call at a time, as the main thread (index.js) sends them.
//
// Isolation. The main thread starts this worker with `env: {}`, so `process.env` here is empty
// (Node gives each worker its own copy, and an empty one when asked), and preview2-shim's
// io thread, started from here, inherits that empty copy. The component's `wasi:cli/environment`
// is not the shim's process-wide one either: `WASIShim({sandbox: {env}})` answers
// `get-environment` with exactly the variables the main thread computed for this instance.
// `wasi:cli/stderr` and `wasi:cli/stdout` are streams of ours (subclasses of the shim's
// OutputStream, so the bindings accept them), which post each line to the main thread, in order
// with the call's result on the same port.
//
// Calls block this thread (the component is synchronous; the shim waits on its io thread with
// Atomics.wait), never the main thread. Between two events of a stream the worker posts the
// event, so the main thread sees each one as it comes.
import { parentPort, workerData } from 'node:worker_threads';
import { cli, clocks, io } from '@bytecodealliance/preview2-shim';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';

const { env, modules, bindings } = workerData;

/** A WASI output stream that posts complete lines to the main thread. */
class LineSink extends io.streams.OutputStream {
  #stream;
  #pending = '';
  #decoder = new TextDecoder();
  constructor(stream) {
    super();
    this.#stream = stream;
  }
  checkWrite() {
    return 1n << 20n;
  }
  write(buf) {
    this.#take(buf);
  }
  blockingWriteAndFlush(buf) {
    this.#take(buf);
  }
  flush() {}
  blockingFlush() {}
  writeZeroes(len) {
    this.#take(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len) {
    this.writeZeroes(len);
  }
  subscribe() {
    // Always ready for more.
    return clocks.monotonicClock.subscribeDuration(0n);
  }
  #take(buf) {
    this.#pending += this.#decoder.decode(buf, { stream: true });
    let nl;
    while ((nl = this.#pending.indexOf('\n')) >= 0) {
      const line = this.#pending.slice(0, nl);
      this.#pending = this.#pending.slice(nl + 1);
      parentPort.postMessage({ t: 'line', stream: this.#stream, line });
    }
  }
}

const stderr = new LineSink('stderr');
const stdout = new LineSink('stdout');
const shim = new WASIShim({
  cli: { ...cli, stderr: { getStderr: () => stderr }, stdout: { getStdout: () => stdout } },
  sandbox: { env, args: ['amplifier-provider-bedrock'], preopens: {} },
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let root;
try {
  const { instantiate } = await import(bindings);
  root = await instantiate((name) => {
    const module = modules[name];
    if (!module) throw new Error(`the transpiled component has no core module ${name}`);
    return module;
  }, shim.getImportObject());
} catch (e) {
  parentPort.postMessage({ t: 'fatal', message: `could not instantiate the component: ${e?.stack ?? e}` });
  process.exit(1);
}

const provider = root['amplifier:modules/provider@1.0.0'];
// Our own interfaces return a typed error (`errors.error`: `{ kind, message }`); the calls go
// through them so the kind arrives without reading the message.
const completion = root['amplifier-bedrock:provider/completion@0.3.0'];
const streaming = root['amplifier-bedrock:provider/streaming@0.3.0'];
const tokens = root['amplifier-bedrock:provider/tokens@0.3.0'];

/**
 * The component's error: `{ message, reason }` for our interfaces' typed error (`reason` is its
 * WIT `error-kind`: `access-denied`, `timed-out`, …), `{ message }` for the contract's string
 * error; null for a trap or a bug here.
 */
function componentError(e) {
  const payload = e?.payload;
  if (typeof payload === 'string') return { message: payload };
  if (payload && typeof payload.message === 'string' && typeof payload.kind === 'string') {
    return { message: payload.message, reason: payload.kind };
  }
  return null;
}

function text(bytes) {
  return decoder.decode(bytes);
}

function run(seq, op, payload) {
  switch (op) {
    case 'getInfo':
      return text(provider.getInfo());
    case 'listModels':
      return text(provider.listModels());
    case 'complete':
      return text(completion.complete(encoder.encode(payload)));
    case 'parseToolCalls':
      // The contract's own: it sends nothing and fails only as `validation:` (WIT `completion`).
      return text(provider.parseToolCalls(encoder.encode(payload)));
    case 'countTokens':
      return text(tokens.countTokens(encoder.encode(payload)));
    case 'stream': {
      const s = streaming.stream(encoder.encode(payload));
      try {
        for (;;) {
          const event = s.next();
          if (event === undefined) break;
          parentPort.postMessage({ t: 'event', seq, event: text(event) });
        }
      } finally {
        // Dropping the resource closes the connection.
        s[Symbol.dispose ?? Symbol.for('dispose')]?.();
      }
      return null;
    }
    default:
      throw new Error(`unknown operation ${op}`);
  }
}

parentPort.on('message', ({ seq, op, payload }) => {
  let reply;
  try {
    reply = { t: 'ok', seq, value: run(seq, op, payload) };
  } catch (e) {
    const error = componentError(e);
    reply =
      error !== null
        ? { t: 'error', seq, message: error.message, reason: error.reason }
        : { t: 'error', seq, message: String(e?.stack ?? e), trap: true };
  }
  parentPort.postMessage(reply);
});
parentPort.postMessage({ t: 'ready' });
