// How a reconcile tick scales with the number of canaries: N progressing canaries in one GitOps
// repo, a real Prometheus scraping the mesh simulator, the loopback Argo CD. It prints, per N, the
// time to read every canary's windows with the promoter's batched queries against one query set
// per canary (Flagger's model: one goroutine and one query per metric per canary, #638), and a
// whole dry-run tick. Prints figures; asserts nothing.
//   npm run build && node dist/bench/tick-latency.js [--sizes 1,10,50] [--rounds 5]
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPrometheusClient } from '../src/analysis/prometheus.js';
import { ENVOY_BUCKETS_MS } from '../src/analysis/settings.js';
import { fetchWindows } from '../src/analysis/windows.js';
import { silentLogger } from '../src/logger.js';
import { createPromoter } from '../src/promoter/app.js';
import { parsePromoterConfig } from '../src/promoter/config.js';
import type { CanaryTarget } from '../src/promoter/ports.js';
import { repoRoot } from '../src/schemas/registry.js';
import { fastPolicyText } from '../test/support/environment.js';
import { cleanGitEnv, commitToRemote } from '../test/support/git-remote.js';
import { startMeshStack, TEMPLATE } from './mesh-stack.js';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1,10,50' }, rounds: { type: 'string', default: '5' } } });
const sizes = (values.sizes ?? '1,10,50').split(',').map(Number);
const rounds = Number(values.rounds ?? 5);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** A GitOps tree with `n` copies of the backend canary (svc1..svcN), each started at 10 %. */
async function writeTree(root: string, n: number, startedAt: string): Promise<void> {
  const source = repoRoot();
  const template = Object.fromEntries(
    await Promise.all(Object.entries(TEMPLATE).map(async ([k, p]) => [k, await readFile(join(source, p), 'utf8')] as const)),
  ) as Record<keyof typeof TEMPLATE, string>;
  for (let i = 1; i <= n; i++) {
    const name = `svc${i}`;
    const rename = (text: string) => text.replaceAll('backend', name);
    const vs = rename(template.vs)
      .replace(/weight: 100\b/, 'weight: 90')
      .replace(/weight: 0\b/, 'weight: 10')
      .replace(/metadata:\n/, `metadata:\n  annotations:\n    delivery.docuthinker.io/canary-started-at: "${startedAt}"\n    delivery.docuthinker.io/step-started-at: "${startedAt}"\n`);
    const files: Record<string, string> = {
      [TEMPLATE.policy.replaceAll('backend', name)]: fastPolicyText(rename(template.policy), 2, 3600),
      [TEMPLATE.vs.replaceAll('backend', name)]: vs,
      [TEMPLATE.stable.replaceAll('backend', name)]: rename(template.stable),
      [TEMPLATE.canary.replaceAll('backend', name)]: rename(template.canary).replace(/(image: \S+:)\S+/, '$19.9.9'),
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    }
  }
}

async function measure(n: number): Promise<{ batched: number; perCanary: number; tick: number; series: number }> {
  const dir = await mkdtemp(join(tmpdir(), `tick-bench-${n}-`));
  const tree = join(dir, 'tree');
  const cleanup: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const startedAt = new Date(Date.now() - 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await writeTree(tree, n, startedAt);
    const { remoteDir, policies, argo, prometheus } = await startMeshStack({
      dir,
      tree,
      names: Array.from({ length: n }, (_, k) => `svc${k + 1}`),
      requestsPerSecond: 2000,
      behaviour: () => ({ errorRate: 0.005, latencyMedianMs: 60 }),
      seed: 7,
      cleanup,
      afterSeed: (remote) => commitToRemote(remote, { 'README.md': 'bench\n' }, 'bench: marker'),
    });
    await sleep(12_000); // a few windows of history

    const client = createPrometheusClient({ baseUrl: prometheus.url, timeoutMs: 30_000 });
    const targets: CanaryTarget[] = policies.map((p) => ({ name: p.metadata.name, service: p.spec.service, namespace: p.spec.namespace, selector: p.spec.analysis.prometheus }));
    const range = () => ({ start: Date.parse(startedAt) / 1000, end: Date.now() / 1000, intervalSeconds: 2, latencyBucketsMs: ENVOY_BUCKETS_MS, settleSeconds: 1 });
    const series = (await client.instant('count({__name__=~"istio_.*"})'))[0]?.value ?? 0;

    const config = parsePromoterConfig(
      { git: { url: remoteDir, workdir: join(dir, 'clone') }, prometheus: { url: prometheus.url, timeout: '30s', settle: '1s' }, policies: ['gitops/apps/*/canary.yaml'] },
      'bench',
    );
    const promoter = await createPromoter(config, silentLogger(), { kubeConfigYaml: argo.kubeConfigYaml(), env: cleanGitEnv(dir) });
    const batched: number[] = [];
    const perCanary: number[] = [];
    const ticks: number[] = [];
    for (let r = 0; r < rounds; r++) {
      batched.push(await timed(() => fetchWindows(client, targets, range())));
      perCanary.push(await timed(async () => {
        for (const target of targets) await fetchWindows(client, [target], range());
      }));
      ticks.push(await timed(async () => {
        const report = await promoter.tick({ dryRun: true });
        const analysed = report.canaries.filter((c) => c.verdict !== undefined).length;
        if (analysed !== n) throw new Error(`expected ${n} judged canaries, got ${analysed}: ${JSON.stringify(report.canaries[0])}`);
      }));
    }
    return { batched: median(batched), perCanary: median(perCanary), tick: median(ticks), series };
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  }
}

console.log(`tick-latency: median of ${rounds} rounds; real Prometheus 2.42 scraping the mesh simulator every 1 s; 2 s windows, about 12 s of history`);
console.log('canaries  istio series  windows batched (ms)  windows one-by-one (ms)  speed-up  dry-run tick (ms)');
for (const n of sizes) {
  const m = await measure(n);
  console.log(
    `${String(n).padStart(8)}  ${String(m.series).padStart(12)}  ${m.batched.toFixed(1).padStart(19)}  ${m.perCanary.toFixed(1).padStart(23)}  ${(m.perCanary / m.batched).toFixed(1).padStart(7)}x  ${m.tick.toFixed(1).padStart(17)}`,
  );
}
