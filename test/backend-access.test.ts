// Prometheus-compatible backends: the tenant header and a bearer token file that is re-read when it
// changes (a rotated projected token), against a loopback server speaking the Prometheus API.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrometheusClient } from '../src/analysis/prometheus.js';
import { backendAccess } from '../src/promoter/app.js';
import { parsePromoterConfig } from '../src/promoter/config.js';

let server: Server;
let url: string;
let dir: string;
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'backend-access-'));
  server = createServer((request, response) => {
    seen.push(request.headers);
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: { job: 'x' }, value: [1700000000, '1'] }] } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('backend access', () => {
  it('sends the tenant header and the current bearer token from its file, re-read after rotation', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'first-token\n');
    const config = parsePromoterConfig(
      { git: { url: '/nowhere' }, prometheus: { url, headers: { 'X-Scope-OrgID': 'docuthinker' }, bearerTokenFile: tokenFile } },
      'test',
    );
    const client = createPrometheusClient({ baseUrl: url, ...backendAccess(config.prometheus) });
    await client.instant('up');
    await writeFile(tokenFile, 'second-token-after-rotation\n');
    await client.instant('up');
    expect(seen.map((h) => [h['x-scope-orgid'], h.authorization])).toEqual([
      ['docuthinker', 'Bearer first-token'],
      ['docuthinker', 'Bearer second-token-after-rotation'],
    ]);
  });

  it('basic auth reads the password from its file', async () => {
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, 's3cret\n');
    const config = parsePromoterConfig({ git: { url: '/nowhere' }, prometheus: { url, basicAuth: { username: 'promoter', passwordFile } } }, 'test');
    seen.length = 0;
    await createPrometheusClient({ baseUrl: url, ...backendAccess(config.prometheus) }).instant('up');
    expect(seen[0]?.authorization).toBe(`Basic ${Buffer.from('promoter:s3cret').toString('base64')}`);
  });

  it('refuses a bearer token file and basic auth together', () => {
    expect(() => parsePromoterConfig({ git: { url: '/x' }, prometheus: { url, bearerTokenFile: '/a', basicAuth: { username: 'u', passwordFile: '/b' } } }, 'test')).toThrow(
      /bearerTokenFile or basicAuth, not both/,
    );
  });
});
