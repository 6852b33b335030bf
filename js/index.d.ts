// Types for amplifier-provider-bedrock (Node.js). The JSON shapes are the component's (the
// repository README: "Streaming", "Hook events", "Errors"); fields not listed here are kept and
// passed through, hence the index signatures.

/** A config value; numbers and booleans are passed as their text. */
export type ConfigValue = string | number | boolean;

export interface BedrockProviderOptions {
  /**
   * Config keys (README "Configuration": `default_model`, `max_tokens`, `timeout`, `api`,
   * `endpoint_url`, `aws_region`, …), given to the component as `BEDROCK_<KEY upper-case>`
   * variables. They win over `env` and `inheritEnv`.
   */
  config?: Record<string, ConfigValue | null | undefined>;
  /**
   * Environment variables given to the component as they are: `AWS_REGION`,
   * `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
   * `AWS_BEARER_TOKEN_BEDROCK`, `AWS_ENDPOINT_URL`, … Nothing from `process.env` reaches the
   * component unless it is here or named in `inheritEnv` (`env: {...process.env}` passes all).
   */
  env?: Record<string, string | number | boolean | null | undefined>;
  /** Names of `process.env` variables to copy (when set) at construction, e.g. `['AWS_REGION']`. */
  inheritEnv?: string[];
  /** Hook events (`llm:request`, `llm:response`, `provider:retry`, `llm:stream_*`, …), as they happen. */
  onEvent?: (event: HookEvent) => void;
  /** Other lines the component writes (panic messages); default: to process.stderr. */
  onLog?: (line: string, stream: 'stderr' | 'stdout') => void;
}

export interface CallOptions {
  /** Aborting rejects the call with an AbortError; a call in flight has its worker replaced. */
  signal?: AbortSignal;
  /** This call's hook events (in addition to the instance's `onEvent`). */
  onEvent?: (event: HookEvent) => void;
}

/** A hook event: `{"amplifier_event": name, "data": …}` as the component wrote it. */
export interface HookEvent {
  name: string;
  data: {
    provider?: string;
    model?: string;
    request_id?: string;
    [key: string]: unknown;
  };
}

export type ErrorKind = 'validation' | 'config' | 'auth' | 'model' | 'throttled' | 'network' | 'bedrock';

/** The component's error prefixes, in README order. */
export const ERROR_KINDS: readonly ErrorKind[];

/**
 * A failed call. `message` is the component's (`auth: …`, `validation: …`), `kind` its prefix;
 * `internal` for failures of the Node.js side (`internal: …`: a trap, a worker that died, a
 * closed provider, a missing build).
 */
export type ErrorReason =
  | 'validation'
  | 'config'
  | 'unauthenticated'
  | 'access-denied'
  | 'model'
  | 'throttled'
  | 'timed-out'
  | 'unreachable'
  | 'unavailable'
  | 'bedrock';

/** Each typed kind of the component (WIT `errors.error-kind`) and the prefix of its messages. */
export const ERROR_REASONS: Readonly<Record<ErrorReason, ErrorKind>>;

export class BedrockError extends Error {
  constructor(message: string, options?: { kind?: ErrorKind | 'internal'; reason?: ErrorReason; cause?: unknown });
  name: 'BedrockError';
  kind: ErrorKind | 'internal';
  /** The component's typed kind: tells access denied from bad credentials, a timeout from an unreachable endpoint. */
  reason?: ErrorReason;
}

/** The kind of an error message: its prefix when it is one of ERROR_KINDS, else `internal`. */
export function errorKind(message: string): ErrorKind | 'internal';

/** The component's environment for these options (what the instance's worker gets). */
export function environmentFor(options?: Pick<BedrockProviderOptions, 'config' | 'env' | 'inheritEnv'>): Record<string, string>;

export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';

export type ContentBlock =
  | { type: 'text'; text: string; [key: string]: unknown }
  | { type: 'thinking'; thinking: string; signature?: string; [key: string]: unknown }
  | { type: 'redacted_thinking'; data: string; [key: string]: unknown }
  | { type: 'tool_call'; id: string; name: string; input: Record<string, unknown>; [key: string]: unknown }
  | { type: 'tool_result'; tool_call_id: string; output: unknown; [key: string]: unknown }
  | { type: 'image'; source: Record<string, unknown>; [key: string]: unknown };

export interface Message {
  role: Role;
  content: string | ContentBlock[];
  tool_call_id?: string;
  name?: string;
  [key: string]: unknown;
}

export interface ToolSpec {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters?: Record<string, unknown>;
  [key: string]: unknown;
}

/** An Amplifier ChatRequest. */
export interface ChatRequest {
  messages: Message[];
  tools?: ToolSpec[];
  model?: string;
  temperature?: number;
  top_p?: number;
  max_output_tokens?: number;
  reasoning_effort?: 'none' | 'low' | 'medium' | 'high' | 'xhigh' | 'max' | (string & {});
  response_format?: unknown;
  tool_choice?: unknown;
  stop?: string[];
  stream?: boolean;
  /** Seconds for this call (the `timeout` config key's default otherwise). */
  timeout?: number;
  conversation_id?: string;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cache_read_tokens?: number;
  cache_write_tokens?: number;
  [key: string]: unknown;
}

/** An Amplifier ChatResponse. */
export interface ChatResponse {
  content: ContentBlock[];
  tool_calls?: ToolCall[];
  usage?: Usage;
  /** `stop`, `tool_calls`, `length`, `content_filter`, or Bedrock's own reason. */
  finish_reason?: string;
  degradation?: unknown;
  metadata?: { model?: string; request_id?: string; stop_reason?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** One event of `stream()` (README "Streaming"). */
export type StreamEvent =
  | {
      type: 'block_start';
      index: number;
      block:
        | { type: 'text' }
        | { type: 'thinking' }
        | { type: 'redacted_thinking'; data: string }
        | { type: 'tool_call'; id: string; name: string };
    }
  | { type: 'delta'; index: number; text?: string; thinking?: string; signature?: string; partial_json?: string }
  | { type: 'block_stop'; index: number; input?: Record<string, unknown> }
  | { type: 'usage'; usage: Usage }
  | {
      type: 'done';
      finish_reason: string;
      tool_calls?: ToolCall[];
      usage: Usage;
      metadata: { model?: string; request_id?: string; stop_reason?: string; [key: string]: unknown };
      degradation?: unknown;
      [key: string]: unknown;
    };

export interface TokenCount {
  input_tokens: number;
  model: string;
  request_id: string;
}

export interface ModelInfo {
  id: string;
  display_name?: string;
  context_window?: number;
  max_output_tokens?: number;
  capabilities?: string[];
  defaults?: Record<string, unknown>;
  /** `api` (`invoke` or `messages`), `inference_profiles`, `deprecated`, … */
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface ProviderInfo {
  id: string;
  display_name?: string;
  capabilities?: string[];
  /** One per config key: `id`, `display_name`, `env_var`, `field_type`, `default`, … */
  config_fields?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * Claude on AWS Bedrock through the WebAssembly component, run in a worker thread of its own.
 * Calls on one instance run one at a time, in order; use several instances for parallel calls.
 */
export class BedrockProvider implements AsyncDisposable {
  constructor(options?: BedrockProviderOptions);
  getInfo(options?: CallOptions): Promise<ProviderInfo>;
  listModels(options?: CallOptions): Promise<ModelInfo[]>;
  /** A request may also be given as its JSON text (string or UTF-8 bytes). */
  complete(request: ChatRequest | string | Uint8Array, options?: CallOptions): Promise<ChatResponse>;
  /**
   * The stream events as they arrive. Errors reject `next()`; leaving the loop early closes the
   * connection (the worker is replaced).
   */
  stream(request: ChatRequest | string | Uint8Array, options?: CallOptions): AsyncIterableIterator<StreamEvent>;
  countTokens(request: ChatRequest | string | Uint8Array, options?: CallOptions): Promise<TokenCount>;
  parseToolCalls(response: ChatResponse | string | Uint8Array, options?: CallOptions): Promise<ToolCall[]>;
  /** Stops the worker; calls in flight or waiting reject with an `internal:` BedrockError. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export default BedrockProvider;
