// Every Kubernetes call is bounded: a hanging API server or an endless body becomes a transient
// error within the timeout instead of freezing the tick.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import { createArgoCdClient } from '../src/promoter/argocd.js';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function kubeconfig(url: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{ name: c, cluster: { server: "${url}", insecure-skip-tls-verify: true } }]`,
    'users: [{ name: u, user: { token: t0ken } }]',
    'contexts: [{ name: x, context: { cluster: c, user: u } }]',
    'current-context: x',
  ].join('\n');
}

describe('the Kubernetes transport', () => {
  it('gives up on an API server that never answers, as a transient error', async () => {
    const url = await serve(() => undefined);
    const client = createArgoCdClient({ kubeConfigYaml: kubeconfig(url), logger: silentLogger(), timeoutMs: 300 });
    const failure = await client.getApplication('docuthinker-mesh', 'argocd').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/cannot reach the Kubernetes API .* get applications\.argoproj\.io "docuthinker-mesh".*300 ms/);
  });

  it('gives up on a body that stalls half-way', async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"kind":"Application",');
    });
    const client = createArgoCdClient({ kubeConfigYaml: kubeconfig(url), logger: silentLogger(), timeoutMs: 300 });
    expect(await client.getApplication('docuthinker-mesh', 'argocd').catch((e: unknown) => e)).toBeInstanceOf(TransientError);
  });

  it('refuses a response larger than the limit', async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ kind: 'Application', metadata: { name: 'x' }, padding: 'x'.repeat(200_000) }));
    });
    const client = createArgoCdClient({ kubeConfigYaml: kubeconfig(url), logger: silentLogger(), maxResponseBytes: 64 * 1024 });
    const failure = await client.getApplication('docuthinker-mesh', 'argocd').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/more than the response limit/);
  });
});
