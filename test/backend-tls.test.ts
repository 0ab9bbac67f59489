// A query endpoint behind TLS signed by a private CA (a Thanos / Mimir / VictoriaMetrics gateway):
// a loopback HTTPS proxy in front of a real Prometheus. With `prometheus.tls.caFile` the promoter's
// client trusts it; without it, or with another CA, the query fails and says why.
import { execFile, execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrometheusClient, PrometheusUnreachableError } from '../src/analysis/prometheus.js';
import { createLogger } from '../src/logger.js';
import { backendAccess } from '../src/promoter/app.js';
import { parsePromoterConfig } from '../src/promoter/config.js';
import { startPrometheus, type PrometheusProcess } from './support/prometheus.js';

const run = promisify(execFile);

function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let dir: string;
let prometheus: PrometheusProcess;
let proxy: Server;
let httpsUrl: string;
let forwarded = 0;

/** A CA (P-256) and a leaf for 127.0.0.1 signed by it, written under `dir` with `prefix`. */
async function makeCa(prefix: string, leaf: boolean): Promise<void> {
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${prefix} test CA`, '-keyout', `${prefix}-ca.key`, '-out', `${prefix}-ca.crt`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  if (!leaf) return;
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', `${prefix}-server.key`, '-out', `${prefix}-server.csr`]);
  await writeFile(join(dir, `${prefix}-server.ext`), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  await openssl([
    'x509', '-req', '-in', `${prefix}-server.csr`, '-CA', `${prefix}-ca.crt`, '-CAkey', `${prefix}-ca.key`, '-CAcreateserial',
    '-days', '1', '-out', `${prefix}-server.crt`, '-extfile', `${prefix}-server.ext`,
  ]);
}

beforeAll(async () => {
  if (!opensslAvailable()) throw new Error('openssl is needed to make the test CA (Debian: apt-get install -y openssl)');
  dir = await mkdtemp(join(tmpdir(), 'backend-tls-'));
  await Promise.all([makeCa('private', true), makeCa('other', false)]);
  prometheus = await startPrometheus({ targets: [], logger: createLogger({ level: 'silent' }), readyTimeoutMs: 60_000 });
  const upstream = new URL(prometheus.url);
  // TLS terminates here; the request goes on to Prometheus unchanged (method, path, headers, body).
  proxy = createServer({ key: await readFile(join(dir, 'private-server.key')), cert: await readFile(join(dir, 'private-server.crt')) }, (req, res) => {
    forwarded++;
    const onward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    onward.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(onward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
  httpsUrl = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  if (proxy) await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await prometheus?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function clientFor(prometheusSettings: Record<string, unknown>) {
  const config = parsePromoterConfig({ git: { url: '/nowhere' }, prometheus: { url: httpsUrl, timeout: '10s', ...prometheusSettings } }, 'test');
  return createPrometheusClient({ baseUrl: config.prometheus.url, timeoutMs: 10_000, ...backendAccess(config.prometheus) });
}

describe('a query endpoint signed by a private CA', () => {
  it('is trusted with prometheus.tls.caFile, and Prometheus answers through it', async () => {
    const before = forwarded;
    const samples = await clientFor({ tls: { caFile: join(dir, 'private-ca.crt') } }).instant('vector(42)');
    expect(samples.map((s) => s.value)).toEqual([42]);
    expect(forwarded).toBe(before + 1);
  });

  it('without the CA the query fails as unreachable and names the untrusted certificate', async () => {
    const before = forwarded;
    const error = await clientFor({}).instant('vector(42)').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PrometheusUnreachableError);
    expect((error as Error).message).toMatch(/certificate/i);
    expect((error as Error).message).toMatch(/tls\.caFile/);
    console.log(`without the CA: ${(error as Error).message}`);
    // The handshake failed: nothing reached Prometheus.
    expect(forwarded).toBe(before);
  });

  it('with another CA the query fails the same way', async () => {
    const error = await clientFor({ tls: { caFile: join(dir, 'other-ca.crt') } }).instant('vector(42)').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PrometheusUnreachableError);
    expect((error as Error).message).toMatch(/not signed by a trusted CA; set prometheus\.tls\.caFile/);
  });
});
