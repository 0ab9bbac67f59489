// The git runner's reading of `git push --porcelain`: pushed, a lost race, or a refusal by the remote's rules.
import { describe, expect, it } from 'vitest';
import { GitAuthError, GitTransientError, readPushResult } from './git.js';

const REF = 'refs/heads/main';
const result = (stdout: string, stderr = '', exitCode = 1) => ({ stdout, stderr, exitCode });
const redact = (text: string) => text.replaceAll('s3cret', '***');

describe('readPushResult', () => {
  it('reads a pushed ref, a lost race and a refusal', () => {
    expect(readPushResult(result(`To x\n \tHEAD:${REF}\tabc..def\nDone\n`, '', 0), REF, 'git push', redact)).toEqual({ kind: 'pushed' });
    expect(readPushResult(result(`To x\n!\tHEAD:${REF}\t[rejected] (fetch first)\nDone\n`), REF, 'git push', redact)).toEqual({
      kind: 'rejected',
      summary: '[rejected] (fetch first)',
    });
    expect(readPushResult(result(`To x\n!\tHEAD:${REF}\t[remote rejected] (protected branch hook declined)\nDone\n`), REF, 'git push', redact)).toEqual({
      kind: 'refused',
      summary: '[remote rejected] (protected branch hook declined)',
    });
  });

  it('throws classified, redacted failures for the rest', () => {
    expect(() => readPushResult(result('', 'fatal: Authentication failed for https://s3cret@host/x'), REF, 'git push', redact)).toThrow(GitAuthError);
    expect(() => readPushResult(result('', 'fatal: unable to access: Could not resolve host: host'), REF, 'git push', redact)).toThrow(GitTransientError);
    try {
      readPushResult(result('', 'fatal: Authentication failed for https://s3cret@host/x'), REF, 'git push', redact);
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret');
    }
  });
});
