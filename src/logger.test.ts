import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, stripCredentials } from './logger.js';

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('logger', () => {
  it('redacts tokens and authorization headers, including in child loggers', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out.stream }).child({ canary: 'backend' });
    logger.info({ token: 'ghp_secret1', request: { headers: { authorization: 'Bearer secret2' } }, headers: { authorization: 'Bearer secret3' } }, 'calling');
    const line = out.text();
    expect(line).toContain('"canary":"backend"');
    expect(line).toContain('[redacted]');
    for (const secret of ['ghp_secret1', 'secret2', 'secret3']) expect(line).not.toContain(secret);
  });

  it('strips credentials from URLs in free text', () => {
    expect(stripCredentials('fetch https://x-access-token:ghp_abc@github.com/o/r.git failed')).toBe('fetch https://***@github.com/o/r.git failed');
    expect(stripCredentials('http://127.0.0.1:9090/api/v1/query')).toBe('http://127.0.0.1:9090/api/v1/query');
  });
});
