// The Prometheus client against an in-process HTTP server that answers with real API shapes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../errors.js';
import {
  createPrometheusClient,
  parseSampleValue,
  PrometheusEmptyResultError,
  PrometheusQueryError,
  PrometheusResponseTooLargeError,
  PrometheusUnreachableError,
} from './prometheus.js';

interface Seen {
  method: string;
  path: string;
  form: URLSearchParams;
  authorization: string | undefined;
}

type Handler = (seen: Seen, res: ServerResponse) => void;

const servers: Server[] = [];

async function serve(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: Seen = {
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
        authorization: req.headers.authorization,
      };
      seen.push(entry);
      handler(entry, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

describe('parseSampleValue', () => {
  it.each([
    ['1', 1],
    ['0.25', 0.25],
    ['+Inf', Number.POSITIVE_INFINITY],
    ['-Inf', Number.NEGATIVE_INFINITY],
    ['1e+06', 1e6],
  ])('parses %s', (text, expected) => {
    expect(parseSampleValue(text)).toBe(expected);
  });
  it('parses NaN', () => {
    expect(parseSampleValue('NaN')).toBeNaN();
  });
});

describe('createPrometheusClient', () => {
  it('posts instant queries form-encoded and parses a vector', async () => {
    const { url, seen } = await serve((_s, res) =>
      json(res, 200, {
        status: 'success',
        data: {
          resultType: 'vector',
          result: [
            { metric: { __name__: 'up', job: 'mesh' }, value: [1700000000.123, '1'] },
            { metric: { job: 'other' }, value: [1700000000.123, 'NaN'] },
          ],
        },
      }),
    );
    const client = createPrometheusClient({ baseUrl: url });
    const samples = await client.instant('up{job=~"mesh|other"}', { time: 1700000000 });
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.path).toBe('/api/v1/query');
    expect(seen[0]?.form.get('query')).toBe('up{job=~"mesh|other"}');
    expect(seen[0]?.form.get('time')).toBe('1700000000');
    expect(samples[0]).toEqual({ labels: { __name__: 'up', job: 'mesh' }, value: 1, time: 1700000000.123 });
    expect(samples[1]?.value).toBeNaN();
  });

  it('parses a scalar result as one unlabelled sample', async () => {
    const { url } = await serve((_s, res) => json(res, 200, { status: 'success', data: { resultType: 'scalar', result: [1700000000, '+Inf'] } }));
    const samples = await createPrometheusClient({ baseUrl: url }).instant('1/0');
    expect(samples).toEqual([{ labels: {}, value: Number.POSITIVE_INFINITY, time: 1700000000 }]);
  });

  it('posts range queries and parses a matrix', async () => {
    const { url, seen } = await serve((_s, res) =>
      json(res, 200, {
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [{ metric: { pod: 'a' }, values: [[100, '3'], [160, '7']] }],
        },
      }),
    );
    const series = await createPrometheusClient({ baseUrl: `${url}/prom/` }).range('x', 100, 160, 60);
    expect(seen[0]?.path).toBe('/prom/api/v1/query_range');
    expect(Object.fromEntries(seen[0]!.form)).toEqual({ query: 'x', start: '100', end: '160', step: '60' });
    expect(series).toEqual([{ labels: { pod: 'a' }, points: [{ time: 100, value: 3 }, { time: 160, value: 7 }] }]);
  });

  it('sends credentials from the base URL as Basic auth and never shows them in errors', async () => {
    const { url, seen } = await serve((_s, res) => json(res, 503, { status: 'error', errorType: 'unavailable', error: 'starting' }));
    const withCredentials = url.replace('http://', 'http://ops:s3cret@');
    const error: unknown = await createPrometheusClient({ baseUrl: withCredentials })
      .instant('up')
      .catch((e: unknown) => e);
    expect(seen[0]?.authorization).toBe(`Basic ${Buffer.from('ops:s3cret').toString('base64')}`);
    expect(error).toBeInstanceOf(PrometheusUnreachableError);
    expect((error as Error).message).not.toContain('s3cret');
    expect((error as Error).message).toContain(`${url}/api/v1/query`);
  });

  it('turns 400 bad_data into a permanent PrometheusQueryError naming the URL and the query', async () => {
    const { url } = await serve((_s, res) =>
      json(res, 400, { status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:5: parse error: unexpected "}"' }),
    );
    const error: unknown = await createPrometheusClient({ baseUrl: url })
      .instant('rate(}')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusQueryError);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PrometheusQueryError).errorType).toBe('bad_data');
    expect((error as Error).message).toContain('parse error');
    expect((error as Error).message).toContain('rate(}');
    expect((error as Error).message).toContain(url);
  });

  it('turns 422 execution errors into PrometheusQueryError', async () => {
    const { url } = await serve((_s, res) => json(res, 422, { status: 'error', errorType: 'execution', error: 'many-to-many matching not allowed' }));
    await expect(createPrometheusClient({ baseUrl: url }).range('a / b', 0, 60, 60)).rejects.toBeInstanceOf(PrometheusQueryError);
  });

  it('turns 503 into a transient PrometheusUnreachableError', async () => {
    const { url } = await serve((_s, res) => json(res, 503, { status: 'error', errorType: 'timeout', error: 'query timed out' }));
    const error: unknown = await createPrometheusClient({ baseUrl: url })
      .instant('up')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusUnreachableError);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toContain('HTTP 503');
  });

  it('times out a server that never answers', async () => {
    const { url } = await serve(() => {
      /* hang: never respond */
    });
    const error: unknown = await createPrometheusClient({ baseUrl: url, timeoutMs: 200 })
      .instant('up')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusUnreachableError);
    expect((error as Error).message).toContain('timed out after 200 ms');
  });

  it('reports connection refused on a closed port', async () => {
    const { url } = await serve((_s, res) => json(res, 200, {}));
    const server = servers.pop()!;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const client = createPrometheusClient({ baseUrl: url });
    const error: unknown = await client.instant('up').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusUnreachableError);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(await client.ready()).toBe(false);
  });

  it('treats a non-API answer (an HTML error page) as unreachable', async () => {
    const { url } = await serve((_s, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>starting</html>');
    });
    await expect(createPrometheusClient({ baseUrl: url }).instant('up')).rejects.toBeInstanceOf(PrometheusUnreachableError);
  });

  it('raises PrometheusEmptyResultError only when data is required', async () => {
    const { url } = await serve((s, res) =>
      json(res, 200, {
        status: 'success',
        data: s.path.endsWith('query_range') ? { resultType: 'matrix', result: [] } : { resultType: 'vector', result: [] },
      }),
    );
    const client = createPrometheusClient({ baseUrl: url });
    expect(await client.instant('absent_metric')).toEqual([]);
    await expect(client.instant('absent_metric', { requireData: true })).rejects.toBeInstanceOf(PrometheusEmptyResultError);
    await expect(client.range('absent_metric', 0, 60, 60, { requireData: true })).rejects.toBeInstanceOf(PrometheusEmptyResultError);
  });

  it('answers ready() from /-/ready', async () => {
    const { url, seen } = await serve((s, res) => {
      res.writeHead(s.path === '/-/ready' ? 200 : 404);
      res.end('Prometheus Server is Ready.\n');
    });
    expect(await createPrometheusClient({ baseUrl: url }).ready()).toBe(true);
    expect(seen[0]?.method).toBe('GET');
  });

  it('uses the injected fetch', async () => {
    const calls: string[] = [];
    const fakeFetch: typeof fetch = (input) => {
      calls.push(input instanceof Request ? input.url : input.toString());
      return Promise.resolve(
        new Response(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }), { status: 200 }),
      );
    };
    await createPrometheusClient({ baseUrl: 'http://prometheus.example:9090', fetch: fakeFetch }).instant('up');
    expect(calls).toEqual(['http://prometheus.example:9090/api/v1/query']);
  });

  // Issue 11 item 6: a 100 MB body once took 503 MB RSS and ran past the timeout.
  it('refuses a 100 MB answer while streaming it, without reading it all', async () => {
    let written = 0;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const { url } = await serve((_s, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":"success","data":{"resultType":"vector","result":[');
      const pump = (): void => {
        while (written < 100 * chunk.length) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end(']}}');
      };
      res.on('error', () => undefined);
      pump();
    });
    const error: unknown = await createPrometheusClient({ baseUrl: url, maxResponseBytes: 4 * 1024 * 1024 })
      .instant('up')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusResponseTooLargeError);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/over the 4194304-byte limit: http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query \(query: up\)/);
    expect(written).toBeLessThan(100 * chunk.length);
  });

  it('refuses an answer whose content-length is over the limit before reading it', async () => {
    const { url } = await serve((_s, res) => {
      const body = JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] }, pad: 'x'.repeat(5000) });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await expect(createPrometheusClient({ baseUrl: url, maxResponseBytes: 1000 }).instant('up')).rejects.toBeInstanceOf(PrometheusResponseTooLargeError);
  });

  it('counts reading and parsing the body against the timeout', async () => {
    const { url } = await serve((_s, res) => json(res, 200, { status: 'success', data: { resultType: 'vector', result: [] } }));
    // A clock that jumps past the timeout between the request and the end of the parse.
    let t = 0;
    const now = () => (t += 1100);
    const error: unknown = await createPrometheusClient({ baseUrl: url, timeoutMs: 1000, now })
      .instant('up')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusUnreachableError);
    expect((error as Error).message).toContain('timed out after 1000 ms');
  });
});
