// The whole-suite leak detector (test/support/secrets.ts) can fail: a child that leaks the fake
// token on purpose is found in its output, a file, a commit and the process list, and those
// deliberate leaks are then forgotten so this file still passes.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanGitEnv } from './git-remote.js';
import { forget, observeOutput, sampleProcesses, suiteToken, takeLeaks } from './secrets.js';

describe('the suite secrets detector', () => {
  it('runs every test with the fake token in the environment and a private TMPDIR', () => {
    expect(process.env.GIT_TOKEN).toBe(suiteToken());
    expect(process.env.GITHUB_TOKEN).toBe(suiteToken());
    expect(suiteToken()).toMatch(/^FAKE-SUITE-TOKEN-[0-9a-f]{20}$/);
    expect(cleanGitEnv('/nonexistent').GIT_TOKEN).toBe(suiteToken());
    expect(tmpdir()).toMatch(/suite-secrets-/);
  });

  it('finds a token a child leaks to its output, a file, a commit (objects only) and its command line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leaky-child-'));
    // The child gets the token the way a promoter does (cleanGitEnv) and leaks it everywhere.
    const script = [
      'echo "token: $GIT_TOKEN"',
      'echo "$GIT_TOKEN" > leaked.txt',
      'git init -q repo && cd repo',
      'echo "$GIT_TOKEN" > secret && git add secret && rm secret',
      'tree=$(git write-tree) && commit=$(echo "fix $GIT_TOKEN" | git -c user.name=a -c user.email=a@example.test commit-tree "$tree") && git update-ref refs/heads/main "$commit"',
      'echo ready',
      // sh stays (its command line holds the token) while the test looks.
      'sleep 30',
    ].join('\n');
    const child = spawn('sh', ['-c', script, 'leaker', `--token=${suiteToken()}`], { cwd: dir, env: cleanGitEnv(dir), stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      observeOutput('output of the leaking child', chunk);
    });
    try {
      for (let i = 0; i < 400 && !output.includes('ready'); i++) await new Promise((resolve) => setTimeout(resolve, 25));
      expect(output).toContain('ready');
      sampleProcesses();
      const leaks = takeLeaks().map((l) => l.where);
      expect(leaks).toEqual(
        expect.arrayContaining([
          'output of the leaking child',
          expect.stringMatching(/^ps: process \d+ \(sh\)$/),
          expect.stringMatching(/^file leaky-child-\w+\/leaked\.txt$/),
          expect.stringMatching(/^git objects .* of leaky-child-\w+\/repo\/\.git$/),
        ]),
      );
      // The commit is found only through its objects: no file under the repository holds the token.
      expect(leaks.filter((l) => l.startsWith('file') && l.includes('/repo/'))).toEqual([]);
      forget(leaks.map((where) => ({ where })));
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
      // What the sampler saw of the child meanwhile is the same deliberate leak.
      const late = takeLeaks();
      forget(late);
    }
  });
});
