// A loopback HTTPS Git server for tests: git's own smart-HTTP CGI (`git http-backend`) behind node's
// https with a throwaway self-signed certificate, and HTTP Basic auth on one token, as GitHub asks.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface GitHttpsServer {
  /** https://127.0.0.1:<port>: a repository is at `${url}/<name>.git` under projectRoot */
  url: string;
  /** the certificate to trust (GIT_SSL_CAINFO) */
  caFile: string;
  /** one line per request: method, path, and whether it carried the right credentials (never the credentials) */
  requests: { method: string; path: string; authorized: boolean }[];
  close(): Promise<void>;
}

export interface GitHttpsServerOptions {
  /** the folder holding the bare repositories */
  projectRoot: string;
  /** where the key and certificate are written */
  dir: string;
  username: string;
  token: string;
}

export async function startGitHttpsServer(options: GitHttpsServerOptions): Promise<GitHttpsServer> {
  const keyFile = join(options.dir, 'server-key.pem');
  const caFile = join(options.dir, 'server-cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  const expected = `Basic ${Buffer.from(`${options.username}:${options.token}`).toString('base64')}`;
  const requests: GitHttpsServer['requests'] = [];
  const server: Server = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (request, response) => {
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const authorized = request.headers.authorization === expected;
    requests.push({ method: request.method ?? 'GET', path: url.pathname, authorized });
    if (!authorized) {
      request.resume();
      response.writeHead(401, { 'WWW-Authenticate': 'Basic realm="gitops"', 'Content-Type': 'text/plain' });
      response.end('authentication required\n');
      return;
    }
    // The CGI contract (RFC 3875) as git http-backend reads it.
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_PROJECT_ROOT: options.projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: request.method ?? 'GET',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        ...(request.headers['content-length'] ? { CONTENT_LENGTH: request.headers['content-length'] } : {}),
        HTTP_CONTENT_ENCODING: request.headers['content-encoding'] ?? '',
        ...(request.headers['git-protocol'] ? { GIT_PROTOCOL: String(request.headers['git-protocol']) } : {}),
        REMOTE_USER: options.username,
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    request.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        response.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
        else headers[name] = value;
      }
      response.writeHead(status, headers);
      response.write(head.subarray(end + 4));
    });
    cgi.on('close', () => {
      if (!headersDone) response.writeHead(502).end('git http-backend printed no headers\n');
      else response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caFile,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
