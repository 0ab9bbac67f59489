// The git runner's reading of `git push --porcelain`: pushed, a lost race, or a refusal by the remote's rules.
import { describe, expect, it } from 'vitest';
import { GitAuthError, GitTransientError, classifyOutput, credentialEnvironment, isLockFailure, readPushResult, splitCredentials } from './git.js';

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

describe('lost races reported as [remote rejected] (issue 11 item 8)', () => {
  it.each(['[remote rejected] (failed to update ref)', '[remote rejected] (failed to lock)', "[remote rejected] (cannot lock ref 'refs/heads/main': is at 1234abcd but expected 5678ef90)", '[remote rejected] (incorrect old value provided)'])(
    '%s is a race: decide again, not a refusal',
    (summary) => {
      expect(readPushResult(result(`To x\n!\tHEAD:${REF}\t${summary}\nDone\n`), REF, 'git push', redact)).toEqual({ kind: 'rejected', summary });
    },
  );
});

describe('credentials never in the URL git sees (issue 11 item 9)', () => {
  it('splits user-info off http(s) URLs only', () => {
    expect(splitCredentials('https://x-access-token:s3cret@github.com/o/r.git')).toEqual({ url: 'https://github.com/o/r.git', credentials: { username: 'x-access-token', password: 's3cret' } });
    expect(splitCredentials('https://s3cret@github.com/o/r.git')).toEqual({ url: 'https://github.com/o/r.git', credentials: { username: 'x-access-token', password: 's3cret' } });
    expect(splitCredentials('ssh://git@github.com/o/r.git')).toEqual({ url: 'ssh://git@github.com/o/r.git' });
    expect(splitCredentials('/srv/gitops.git')).toEqual({ url: '/srv/gitops.git' });
  });

  it('hands the secret to the git child by its environment, never by config in argv', () => {
    const env = credentialEnvironment({ PATH: '/bin' }, { username: 'u', password: 's3cret' });
    expect(env.PROMOTER_GIT_PASSWORD).toBe('s3cret');
    expect(env.GIT_CONFIG_KEY_1).toBe('credential.helper');
    expect(env.GIT_CONFIG_VALUE_1).not.toContain('s3cret');
    expect(credentialEnvironment({ PATH: '/bin' }, undefined)).toEqual({ PATH: '/bin' });
  });
});

it('a full disk is transient and a lock in the way is recognised', () => {
  expect(classifyOutput('git add', 'error: unable to write file: No space left on device', 'no space')).toBeInstanceOf(GitTransientError);
  expect(isLockFailure(classifyOutput('git checkout', "fatal: Unable to create '/c/.git/index.lock': File exists.", "Unable to create '/c/.git/index.lock': File exists."))).toBe(true);
  expect(isLockFailure(classifyOutput('git fetch', 'fatal: bad object', 'bad object'))).toBe(false);
});
