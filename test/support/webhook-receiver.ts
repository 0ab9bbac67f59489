// A loopback webhook receiver (Slack-style incoming webhook): records each JSON body it is sent and
// answers as the test says (200 "ok" by default). Used by the notification, failover and CLI tests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookReceiver<T = unknown> {
  /** where to post; the path plays the part of a webhook's secret. */
  url: string;
  /** every body received, parsed, in order. */
  bodies: T[];
  /** requests seen, answered or not. */
  requests: number;
  server: Server;
  close(): Promise<void>;
}

export interface WebhookReceiverOptions {
  /** path (and query) of the url; default /hooks/secret. */
  path?: string;
  /** how to answer once the body is read; default 200 "ok". A hanging target never answers. */
  answer?: (req: IncomingMessage, res: ServerResponse) => void;
}

export const answerOk = (_req: IncomingMessage, res: ServerResponse): void => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');

export async function startWebhookReceiver<T = unknown>(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver<T>> {
  const answer = options.answer ?? answerOk;
  const receiver: WebhookReceiver<T> = {
    url: '',
    bodies: [],
    requests: 0,
    server: createServer((req, res) => {
      receiver.requests++;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        receiver.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
        answer(req, res);
      });
    }),
    close: async () => {
      receiver.server.closeAllConnections();
      await new Promise((resolve) => receiver.server.close(resolve));
    },
  };
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}${options.path ?? '/hooks/secret'}`;
  return receiver;
}
