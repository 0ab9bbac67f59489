// A real `promoter run` process for the fault suite, with a `git` on its PATH that can stop it at a
// chosen git command (before, during or after it) so the test kills it there with SIGKILL, the way a
// node or container dies: the whole process group at once, git children included.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../../src/schemas/registry.js';
import { cleanGitEnv } from '../../support/git-remote.js';
import { observeOutput } from '../../support/secrets.js';

export const CLI = join(repoRoot(), 'dist', 'src', 'cli.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Where the wrapper stops the promoter. `command`: a git subcommand (push, fetch, commit, ...) or
 * "*"; `nth`: its occurrence in this process (1-based); `decision`: only pushes of a commit whose
 * Promoter-Decision trailer is this. `during` starts git and stops `ms` later, whether git finished or
 * not; `wait` holds git until the test calls release() (no kill: a race made deterministic).
 */
export interface GitStop {
  command: string;
  nth: number;
  decision?: string;
  phase: 'before' | 'during' | 'after' | 'wait';
  ms?: number;
}

// The promoter runs one git command at a time (its workspace serialises them), so a counter file
// is enough. Plain sh: it must not cost a node start per git command.
const WRAPPER = `#!/bin/sh
# git for the fault suite (test/faults/support/promoter-process.ts): plain git unless a stop is planned.
real="$FAULT_REAL_GIT"
dir="$FAULT_STOP_DIR"
[ -z "$dir" ] || [ -f "$dir/alive" ] || : > "$dir/alive"
if [ -z "$dir" ] || [ ! -f "$dir/plan" ] || [ -f "$dir/fired" ]; then exec "$real" "$@"; fi
. "$dir/plan"
sub=""; skip=0; last=""
for a in "$@"; do
  last="$a"
  if [ -n "$sub" ]; then continue; fi
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case "$a" in -c|-C) skip=1 ;; -*) ;; *) sub="$a" ;; esac
done
if [ "$command" != "*" ] && [ "$command" != "$sub" ]; then exec "$real" "$@"; fi
if [ -n "$decision" ]; then
  d=$("$real" log -1 --format='%(trailers:key=Promoter-Decision,valueonly)' "\${last%%:*}" 2>/dev/null | head -n 1)
  if [ "$d" != "$decision" ]; then exec "$real" "$@"; fi
fi
n=$(( $(cat "$dir/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$dir/count"
if [ "$n" -ne "$nth" ]; then exec "$real" "$@"; fi
say() { echo "$1 $sub" > "$dir/fired.tmp"; mv "$dir/fired.tmp" "$dir/fired"; }
case "$phase" in
  before) say before; exec sleep 600 ;;
  after) "$real" "$@"; say "after($?)"; exec sleep 600 ;;
  during) "$real" "$@" & sleep "$ms"; say during; exec sleep 600 ;;
  wait) say waiting; while [ ! -f "$dir/release" ]; do sleep 0.02; done; exec "$real" "$@" ;;
esac
exec "$real" "$@"
`;

/**
 * Loaded by a warm promoter (`node --import`) before the CLI's entry: it imports the CLI's modules
 * (about 1.5 s of CPU, most of it @kubernetes/client-node) and then waits for the go file, so a
 * restart after a kill is a process that is already up. Importing has no side effect on the work
 * directory: what starts after go is an ordinary `promoter run` in a fresh process.
 */
const PRELOAD = (modules: string[]): string => `// Preload of a warm promoter (test/faults/support/promoter-process.ts).
import { existsSync } from 'node:fs';
const go = process.env.FAULT_GO_FILE;
if (go) {
  for (const m of ${JSON.stringify(modules)}) await import(m);
  // Bounded: a spare nobody starts goes away by itself.
  for (let i = 0; !existsSync(go); i++) {
    if (i > 30000) process.exit(3);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
`;

let wrapperDir: string | undefined;

/** The directory holding the wrapper `git`, made once per test process. */
function wrapper(base: string): string {
  if (wrapperDir && existsSync(join(wrapperDir, 'git'))) return wrapperDir;
  const dir = join(base, 'git-wrapper');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'git'), WRAPPER);
  chmodSync(join(dir, 'git'), 0o755);
  const commands = join(repoRoot(), 'dist', 'src', 'commands');
  const modules = [...readdirSync(commands).filter((f) => f.endsWith('.js')).map((f) => join(commands, f)), join(repoRoot(), 'dist', 'src', 'promoter', 'app.js')];
  writeFileSync(join(dir, 'preload.mjs'), PRELOAD(modules.map((m) => pathToFileURL(m).href)));
  wrapperDir = dir;
  return dir;
}

const REAL_GIT = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();

export interface PromoterProcessOptions {
  /** a name for logs and the config file. */
  name: string;
  /** scratch space of the test (config, stop files, the wrapper). */
  dir: string;
  /** the promoter's git.workdir; the same across restarts, as a Deployment's emptyDir is. */
  workdir: string;
  gitUrl: string;
  prometheusUrl: string;
  kubeconfig: string;
  policies: string[];
  author?: { name: string; email: string };
  stop?: GitStop;
  /**
   * Run as pid 1 of a new pid namespace, as in a container: a restart then reuses the same clone
   * directory (run-<host>-1), with whatever a kill left in it.
   */
  pidNamespace?: boolean;
  extraConfig?: Record<string, unknown>;
  /**
   * Start node now but hold the promoter until go(): a spare that is already up when the test
   * needs a restart (see PRELOAD). `stop` may then be given to go() instead.
   */
  warm?: boolean;
}

function writePlan(stopDir: string, s: GitStop): void {
  writeFileSync(join(stopDir, 'plan'), [`command='${s.command}'`, `nth=${s.nth}`, `decision='${s.decision ?? ''}'`, `phase=${s.phase}`, `ms=${((s.ms ?? 0) / 1000).toFixed(3)}`, ''].join('\n'));
}

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

export class PromoterProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<void>;
  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly stopDir: string,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    for (const stream of [child.stdout, child.stderr]) {
      let buffer = '';
      stream?.on('data', (chunk: Buffer) => {
        // The suite's fake token must never be in what a promoter prints.
        observeOutput(`output of promoter ${name}`, chunk);
        buffer += chunk.toString('utf8');
        const parts = buffer.split('\n');
        buffer = parts.pop() ?? '';
        for (const line of parts) {
          try {
            this.lines.push(JSON.parse(line) as LogLine);
          } catch {
            this.lines.push({ raw: line });
          }
        }
        // Bounded: a long-running promoter logs every tick.
        if (this.lines.length > 5000) this.lines.splice(0, this.lines.length - 5000);
      });
    }
  }

  static start(options: PromoterProcessOptions): PromoterProcess {
    const stamp = `${options.name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const stopDir = join(options.dir, 'stops', stamp);
    mkdirSync(stopDir, { recursive: true });
    if (options.stop) writePlan(stopDir, options.stop);
    const config = join(options.dir, `${options.name}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        git: { url: options.gitUrl, branch: 'main', workdir: options.workdir, author: options.author ?? { name: 'docuthinker-promoter', email: 'promoter@docuthinker.invalid' } },
        prometheus: { url: options.prometheusUrl, timeout: '5s', settle: '1s' },
        argocd: { kubeconfig: options.kubeconfig, timeout: '2s' },
        http: { listen: '' },
        policies: options.policies,
        schedule: '* * * * * *',
        tickDeadline: '30s',
        logLevel: 'info',
        ...options.extraConfig,
      }),
    );
    const wrapperPath = wrapper(options.dir);
    const env = {
      ...cleanGitEnv(options.dir),
      PATH: `${wrapperPath}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      FAULT_REAL_GIT: REAL_GIT,
      FAULT_STOP_DIR: stopDir,
      ...(options.warm ? { FAULT_GO_FILE: join(stopDir, 'go') } : {}),
    };
    const node = [process.execPath, ...(options.warm ? ['--import', pathToFileURL(join(wrapperPath, 'preload.mjs')).href] : []), CLI, 'run', '--config', config];
    const [command, ...args] = options.pidNamespace ? ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc', ...node] : node;
    // Its own process group: SIGKILL to the group is a container dying, git children and all.
    const child = spawn(command ?? 'node', args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    return new PromoterProcess(options.name, child, stopDir);
  }

  /** Lets a warm promoter start, stopping where `stop` says (if given). */
  go(stop?: GitStop): void {
    if (stop) writePlan(this.stopDir, stop);
    writeFileSync(join(this.stopDir, 'go'), '');
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the wrapper said when it stopped the promoter ("before push", "after(0) push", ...), if it did. */
  fired(): string | undefined {
    try {
      return readFileSync(join(this.stopDir, 'fired'), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  /** It has run its first git command (node is up and the clone is being made or reused). */
  alive(): boolean {
    return existsSync(join(this.stopDir, 'alive'));
  }

  /** Lets a git command held by a `wait` stop go on. */
  release(): void {
    writeFileSync(join(this.stopDir, 'release'), '');
  }

  /** SIGKILL to the whole process group; resolves once the promoter is gone. */
  async kill(): Promise<void> {
    if (this.child.pid !== undefined && this.running) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.exited;
  }

  /** Resolves true when `probe` holds (checked every `everyMs`), false when `ms` passed first. */
  async until(probe: () => boolean, ms: number, everyMs = 25): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (probe()) return true;
      await sleep(everyMs);
    }
    return probe();
  }

  tail(n = 8): string {
    return this.lines
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n');
  }
}
