// A loopback HTTP proxy in front of a test server (the fake Kubernetes API, a fake Prometheus) that
// breaks on demand: hang, answer garbage, 500, a huge body, or cut the connection (a watch disconnect).
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultMode = 'pass' | 'hang' | 'garbage' | 'http-500' | 'huge' | 'disconnect';

export interface FaultProxy {
  url: string;
  mode: FaultMode;
  /** requests seen per mode. */
  seen: Map<FaultMode, number>;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = { url: '', mode: 'pass', seen: new Map(), close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    const mode = proxy.mode;
    proxy.seen.set(mode, (proxy.seen.get(mode) ?? 0) + 1);
    switch (mode) {
      case 'hang':
        req.resume();
        return; // never answer
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"kind":"Application","metadata":{"na\u0000<html>');
        return;
      case 'http-500':
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'etcdserver: request timed out', reason: 'InternalError', code: 500 }));
        return;
      case 'huge': {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const pump = (): void => {
          while (sent < 64) {
            sent += 1;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        res.on('error', () => undefined);
        res.write('{"kind":"Application","padding":"');
        pump();
        return;
      }
      case 'disconnect':
        req.socket.destroy();
        return;
      case 'pass': {
        const upstreamRequest = httpRequest(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (upstreamResponse) => {
            res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
            upstreamResponse.pipe(res);
          },
        );
        upstreamRequest.on('error', () => res.destroy());
        req.pipe(upstreamRequest);
        return;
      }
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
