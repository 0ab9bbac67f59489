// The only module that speaks the Prometheus HTTP API (/api/v1/query, /api/v1/query_range, /-/ready).
// Failures come back typed: transient (unreachable, no data yet) or permanent (a bad query).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { PermanentError, TransientError, errorMessage } from '../errors.js';
import { stripCredentials, type Logger } from '../logger.js';

export interface InstantSample {
  labels: Record<string, string>;
  value: number;
  /** unix seconds */
  time: number;
}

export interface RangeSeries {
  labels: Record<string, string>;
  points: { time: number; value: number }[];
}

export interface InstantOptions {
  /** evaluation time, unix seconds; Prometheus uses its own "now" when absent. */
  time?: number;
  /** an empty result is a PrometheusEmptyResultError instead of []. */
  requireData?: boolean;
}

export interface PrometheusClient {
  instant(query: string, options?: InstantOptions): Promise<InstantSample[]>;
  range(
    query: string,
    start: number,
    end: number,
    stepSeconds: number,
    options?: { requireData?: boolean },
  ): Promise<RangeSeries[]>;
  /** GET /-/ready answers 200. Never throws. */
  ready(): Promise<boolean>;
}

export interface PrometheusClientOptions {
  baseUrl: string;
  fetch?: typeof fetch;
  /** per request, including reading and parsing the body; default 10000. */
  timeoutMs?: number;
  /** the largest response body read; a bigger one is refused while streaming (default 32 MiB). */
  maxResponseBytes?: number;
  /** milliseconds, for the timeout that covers reading and parsing; default Date.now. */
  now?: () => number;
  logger?: Logger;
  /** extra headers on every request, e.g. X-Scope-OrgID for Mimir / Cortex tenants. */
  headers?: Record<string, string>;
  /** PEM of the CA that signed the server's certificate (a private Thanos / Mimir / VictoriaMetrics endpoint). */
  caPem?: string;
  /**
   * The Authorization header value, asked before every request (so a rotated bearer token file is
   * picked up); overrides user:password@ in the base URL. Never logged.
   */
  authorization?: () => string | undefined;
}

/** Prometheus cannot be reached or answered 5xx / timed out: try again on the next tick. */
export class PrometheusUnreachableError extends TransientError {
  override name = 'PrometheusUnreachableError';
  constructor(
    message: string,
    readonly url: string,
    readonly query: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Prometheus rejected the query (400/422, bad_data / execution error): a person must fix it. */
export class PrometheusQueryError extends PermanentError {
  override name = 'PrometheusQueryError';
  constructor(
    message: string,
    readonly url: string,
    readonly query: string,
    readonly errorType: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The query ran but matched nothing while data was required; no data is never a pass. */
export class PrometheusEmptyResultError extends TransientError {
  override name = 'PrometheusEmptyResultError';
  constructor(
    message: string,
    readonly url: string,
    readonly query: string,
  ) {
    super(message);
  }
}

/** The answer was bigger than maxResponseBytes: cut off while streaming, never buffered whole. */
export class PrometheusResponseTooLargeError extends PrometheusUnreachableError {
  override name = 'PrometheusResponseTooLargeError';
}

const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
/** Shown in error messages; long batched queries are cut so a log line stays readable. */
const QUERY_IN_MESSAGE_MAX = 400;

function shortQuery(query: string): string {
  return query.length > QUERY_IN_MESSAGE_MAX ? `${query.slice(0, QUERY_IN_MESSAGE_MAX)}…` : query;
}

/** Prometheus encodes sample values as strings, including "NaN", "+Inf" and "-Inf". */
export function parseSampleValue(text: unknown): number {
  if (typeof text === 'number') return text;
  if (typeof text !== 'string') return Number.NaN;
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    default:
      return Number(text);
  }
}

interface BaseUrl {
  url: URL;
  authorization: string | undefined;
}

/** Splits user:password@ out of the base URL into a Basic Authorization header (fetch refuses URLs with credentials). */
function parseBaseUrl(baseUrl: string): BaseUrl {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (error) {
    throw new PermanentError(`Prometheus base URL is not a URL: ${stripCredentials(baseUrl)}`, { cause: error });
  }
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  return { url, authorization };
}

function endpoint(base: BaseUrl, path: string): string {
  const url = new URL(base.url);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  return url.toString();
}

interface ApiEnvelope {
  status?: unknown;
  data?: unknown;
  errorType?: unknown;
  error?: unknown;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function parseLabels(value: unknown): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(asRecord(value) ?? {})) {
    if (typeof v === 'string') labels[key] = v;
  }
  return labels;
}

function parsePair(pair: unknown): { time: number; value: number } | undefined {
  if (!Array.isArray(pair) || pair.length < 2) return undefined;
  const time = Number(pair[0]);
  if (!Number.isFinite(time)) return undefined;
  return { time, value: parseSampleValue(pair[1]) };
}

/** vector, scalar and matrix results as instant samples (a matrix keeps each series' last point). */
function instantSamples(data: Record<string, unknown>): InstantSample[] {
  const resultType = data.resultType;
  const result = data.result;
  if (resultType === 'scalar' || resultType === 'string') {
    const point = parsePair(result);
    return point && resultType === 'scalar' ? [{ labels: {}, ...point }] : [];
  }
  if (!Array.isArray(result)) return [];
  const samples: InstantSample[] = [];
  for (const item of result) {
    const record = asRecord(item);
    if (!record) continue;
    const labels = parseLabels(record.metric);
    const point = parsePair(record.value) ?? (Array.isArray(record.values) ? parsePair(record.values.at(-1)) : undefined);
    if (point) samples.push({ labels, ...point });
  }
  return samples;
}

function rangeSeries(data: Record<string, unknown>): RangeSeries[] {
  const result = data.result;
  if (!Array.isArray(result)) return [];
  const series: RangeSeries[] = [];
  for (const item of result) {
    const record = asRecord(item);
    if (!record) continue;
    const values: unknown[] = Array.isArray(record.values) ? record.values : [];
    const points = values.map(parsePair).filter((p): p is { time: number; value: number } => p !== undefined);
    series.push({ labels: parseLabels(record.metric), points });
  }
  return series;
}

class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}

/**
 * The body as text, read chunk by chunk so a huge answer is refused at `maxBytes` instead of
 * being buffered whole (a 100 MB body once took 503 MB RSS). The caller's signal bounds the read.
 */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new BodyTooLarge(`content-length ${declared} bytes`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLarge(`more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** Node's codes for a server certificate that no trusted CA signed. */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

/** A network cause a person can act on: TLS failures say what is wrong with the certificate. */
function explainCause(cause: string): string {
  if (UNTRUSTED_CERTIFICATE.has(cause)) return `${cause}: the server's TLS certificate is not signed by a trusted CA; set prometheus.tls.caFile to the CA that signed it`;
  if (cause === 'ERR_TLS_CERT_ALTNAME_INVALID') return `${cause}: the server's TLS certificate does not name this host; use the host name the certificate was issued for`;
  if (cause === 'CERT_HAS_EXPIRED') return `${cause}: the server's TLS certificate has expired`;
  return cause;
}

/** The lowest-level cause's code or message, e.g. ECONNREFUSED, for a readable error. */
function networkCause(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (current.cause === undefined) return current.message;
    current = current.cause;
  }
  return errorMessage(current);
}

/**
 * A fetch over node:https that trusts `caPem` (the global fetch has no per-call CA option on
 * Node 20). Only what this module uses: method, headers, a string body, an abort signal.
 */
export function fetchTrusting(caPem: string): typeof fetch {
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(
        url,
        {
          method: init.method ?? 'GET',
          headers: init.headers as Record<string, string> | undefined,
          ...(url.protocol === 'https:' ? { ca: caPem } : {}),
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (response) => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (typeof value === 'string') headers.set(name, value);
            else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
          }
          resolve(new Response(Readable.toWeb(response) as ReadableStream<Uint8Array>, { status: response.statusCode ?? 0, headers }));
        },
      );
      request.on('error', reject);
      request.end(typeof init.body === 'string' ? init.body : undefined);
    });
}

export function createPrometheusClient(options: PrometheusClientOptions): PrometheusClient {
  const fetchImpl = options.fetch ?? (options.caPem !== undefined ? fetchTrusting(options.caPem) : globalThis.fetch);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const base = parseBaseUrl(options.baseUrl);

  function readyHeaders(): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
    const authorization = options.authorization?.() ?? base.authorization;
    if (authorization) headers.authorization = authorization;
    return headers;
  }

  async function callApi(path: string, params: Record<string, string>, query: string): Promise<Record<string, unknown>> {
    const url = endpoint(base, path);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
    const authorization = options.authorization?.() ?? base.authorization;
    if (authorization) headers.authorization = authorization;
    const where = `${url} (query: ${shortQuery(query)})`;
    const started = now();
    let status: number;
    let text: string;
    try {
      // POST keeps long batched selectors out of the URL (no 414, no proxy URL limits).
      const response = await fetchImpl(url, {
        method: 'POST',
        headers,
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      text = await readCapped(response, maxBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        throw new PrometheusResponseTooLargeError(`Prometheus answered ${error.message}, over the ${maxBytes}-byte limit: ${where}`, url, query, { cause: error });
      }
      const why = isTimeout(error) ? `timed out after ${timeoutMs} ms` : `unreachable (${explainCause(networkCause(error))})`;
      throw new PrometheusUnreachableError(`Prometheus ${why}: ${where}`, url, query, { cause: error });
    }

    let body: ApiEnvelope | undefined;
    try {
      body = asRecord(JSON.parse(text));
    } catch {
      body = undefined;
    }
    // The timeout covers the parse too: a parse that ends past it is a timeout, not an answer.
    const elapsed = now() - started;
    logger?.debug({ path, status, ms: elapsed }, 'prometheus query');
    if (elapsed > timeoutMs) {
      throw new PrometheusUnreachableError(`Prometheus timed out after ${timeoutMs} ms (the answer took ${elapsed} ms to read and parse): ${where}`, url, query);
    }
    const apiError = typeof body?.error === 'string' ? body.error : undefined;
    const errorType = typeof body?.errorType === 'string' ? body.errorType : undefined;

    if (status === 400 || status === 422) {
      throw new PrometheusQueryError(
        `Prometheus rejected the query (HTTP ${status}${errorType ? ` ${errorType}` : ''}: ${apiError ?? text.slice(0, 200)}): ${where}`,
        url,
        query,
        errorType,
      );
    }
    if (status >= 500 || status === 408 || status === 429) {
      throw new PrometheusUnreachableError(
        `Prometheus answered HTTP ${status}${apiError ? ` (${apiError})` : ''}: ${where}`,
        url,
        query,
      );
    }
    if (status < 200 || status >= 300) {
      // 401/403/404 do not pass by themselves: the URL or the credentials are wrong.
      throw new PrometheusQueryError(
        `Prometheus answered HTTP ${status}${apiError ? ` (${apiError})` : ''}; check the base URL and credentials: ${where}`,
        url,
        query,
        errorType,
      );
    }
    if (!body || body.status !== 'success') {
      if (body?.status === 'error') {
        throw new PrometheusQueryError(`Prometheus query failed (${errorType ?? 'error'}: ${apiError ?? 'no message'}): ${where}`, url, query, errorType);
      }
      // e.g. an HTML page from a proxy in front of Prometheus while it restarts.
      throw new PrometheusUnreachableError(`Prometheus answered HTTP ${status} with no API response: ${where}`, url, query);
    }
    const data = asRecord(body.data);
    if (!data) {
      throw new PrometheusUnreachableError(`Prometheus answered success without data: ${where}`, url, query);
    }
    return data;
  }

  return {
    async instant(query, instantOptions = {}) {
      const params: Record<string, string> = { query };
      if (instantOptions.time !== undefined) params.time = String(instantOptions.time);
      const samples = instantSamples(await callApi('/api/v1/query', params, query));
      if (instantOptions.requireData && samples.length === 0) {
        const url = endpoint(base, '/api/v1/query');
        throw new PrometheusEmptyResultError(`Prometheus returned no data: ${url} (query: ${shortQuery(query)})`, url, query);
      }
      return samples;
    },

    async range(query, start, end, stepSeconds, rangeOptions = {}) {
      if (!(stepSeconds > 0)) throw new RangeError(`range query step must be > 0 s, got ${stepSeconds}`);
      const params = { query, start: String(start), end: String(end), step: String(stepSeconds) };
      const series = rangeSeries(await callApi('/api/v1/query_range', params, query));
      if (rangeOptions.requireData && series.every((s) => s.points.length === 0)) {
        const url = endpoint(base, '/api/v1/query_range');
        throw new PrometheusEmptyResultError(`Prometheus returned no data: ${url} (query: ${shortQuery(query)})`, url, query);
      }
      return series;
    },

    async ready() {
      const url = endpoint(base, '/-/ready');
      try {
        const response = await fetchImpl(url, {
          headers: readyHeaders(),
          signal: AbortSignal.timeout(timeoutMs),
        });
        await readCapped(response, 64 * 1024);
        return response.ok;
      } catch (error) {
        logger?.debug({ url, err: networkCause(error) }, 'prometheus not ready');
        return false;
      }
    },
  };
}
