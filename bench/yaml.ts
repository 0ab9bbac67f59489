// How much YAML work one canary costs on a big manifest: one parse of a 5 000-line VirtualService
// beside reading the canary's state from it and editing its route (the set-weight commit's edit).
// Also a 20 000-key map (issue 11's quadratic duplicate-key check). Prints figures; asserts nothing.
//   npm run bench:yaml          (= npm run build && node dist/bench/yaml.js [--rounds 7] [--lines 5000])
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { applyAction } from '../src/promoter/changes.js';
import { manifestParseCount, readRouteWeights } from '../src/promoter/manifest-edits.js';
import { parseCanaryPolicy } from '../src/promoter/policy.js';
import { parsedTexts, readCanaryState, type ManifestTexts } from '../src/promoter/state.js';
import { repoRoot } from '../src/schemas/registry.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, lines: { type: 'string', default: '5000' } } });
const rounds = Number(values.rounds ?? 7);
const targetLines = Number(values.lines ?? 5000);
const root = repoRoot();
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The backend VirtualService with extra header routes before and after `primary`, about `lines` long. */
export function bigVirtualService(lines: number): string {
  const base = read('gitops/istio/traffic-management/virtualservices/backend.yaml').replace(
    'metadata:\n',
    'metadata:\n  annotations:\n    delivery.docuthinker.io/canary-started-at: "2026-01-01T00:00:00Z"\n    delivery.docuthinker.io/step-started-at: "2026-01-01T00:00:00Z"\n    delivery.docuthinker.io/canary-image: "ghcr.io/docuthinker/backend:1.5.0"\n',
  ).replace(/weight: 100\b/, 'weight: 95').replace(/weight: 0\b/, 'weight: 5');
  const route = (i: number) => `    # tenant route ${i}: pinned to stable for its contract tests
    - name: tenant-${i}
      match:
        - headers:
            x-tenant:
              exact: "tenant-${i}"
      route:
        - destination:
            host: backend.docuthinker-prod.svc.cluster.local
            subset: stable
            port:
              number: 8080
      retries:
        attempts: 2
        retryOn: "connect-failure,refused-stream,reset-before-request"
      timeout: 65s
`;
  const perRoute = route(0).split('\n').length - 1;
  const count = Math.max(0, Math.round((lines - base.split('\n').length) / perRoute));
  const before = Array.from({ length: Math.floor(count / 2) }, (_, i) => route(i)).join('');
  const after = Array.from({ length: count - Math.floor(count / 2) }, (_, i) => route(i + count)).join('');
  // The first two routes stay first (header opt-ins); tenant routes go around `primary`.
  const marker = '    # The promoter owns the two weight lines below';
  return base.replace(marker, before + marker) + after;
}

/** A VirtualService whose metadata.labels has `keys` entries: issue 11's 0.6 MB, 20k-key file. */
function manyKeys(keys: number): string {
  const labels = Array.from({ length: keys }, (_, i) => `    label-${i}: value-${i}`).join('\n');
  return read('gitops/istio/traffic-management/virtualservices/backend.yaml').replace('metadata:\n', `metadata:\n  labels:\n${labels}\n`);
}

function time(fn: () => unknown): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
}

const vs = bigVirtualService(targetLines);
const policy = parseCanaryPolicy(read('gitops/apps/backend/canary.yaml'), 'gitops/apps/backend/canary.yaml');
const texts: ManifestTexts = {
  virtualService: vs,
  stableDeployment: read(policy.spec.deployments.stable.file),
  canaryDeployment: read(policy.spec.deployments.canary.file).replace('backend:1.4.0', 'backend:1.5.0'),
};
const ref = { virtualService: 'backend', route: 'primary', stableSubset: 'stable', canarySubset: 'canary' };
const now = new Date('2026-01-01T00:10:00Z');

// Warm up the JIT so the first figure is not the compiler's.
for (let i = 0; i < 2; i++) {
  parseAllDocuments(vs);
  applyAction(policy, readCanaryState(policy, texts), texts, { kind: 'set-weight', from: 5, to: 10 }, now);
}

const parse: number[] = [];
const state: number[] = [];
const edit: number[] = [];
const both: number[] = [];
let parsesPerTick = 0;
for (let r = 0; r < rounds; r++) {
  parse.push(time(() => parseAllDocuments(vs)));
  state.push(time(() => readCanaryState(policy, texts)));
  const s = readCanaryState(policy, texts);
  edit.push(time(() => applyAction(policy, s, texts, { kind: 'set-weight', from: 5, to: 10 }, now)));
  // As a tick does it: the files parsed once, the state and the edit both reading that parse.
  const before = manifestParseCount();
  both.push(
    time(() => {
      const parsed = parsedTexts(policy, texts);
      applyAction(policy, readCanaryState(policy, parsed), parsed, { kind: 'set-weight', from: 5, to: 10 }, now);
    }),
  );
  parsesPerTick = manifestParseCount() - before;
}
const out = applyAction(policy, readCanaryState(policy, texts), texts, { kind: 'set-weight', from: 5, to: 10 }, now)[policy.spec.virtualService.file] ?? '';
const changed = vs.split('\n').filter((line, i) => line !== out.split('\n')[i]).length;
const p = median(parse);
console.log(`yaml: VirtualService of ${vs.split('\n').length} lines (${(vs.length / 1024).toFixed(0)} KiB), median of ${rounds}`);
console.log(`  one parse (parseAllDocuments)        ${p.toFixed(1)} ms   1.00x`);
console.log(`  readCanaryState (3 files, as texts)  ${median(state).toFixed(1)} ms   ${(median(state) / p).toFixed(2)}x`);
console.log(`  set-weight edit (weights + stamp)    ${median(edit).toFixed(1)} ms   ${(median(edit) / p).toFixed(2)}x   (given texts: parses the VirtualService itself)`);
console.log(`  state + edit (the tick's work)       ${median(both).toFixed(1)} ms   ${(median(both) / p).toFixed(2)}x   (target <= 1.50x; ${parsesPerTick} whole-file parses for 3 files)`);
console.log(`  lines changed by the edit: ${changed}; weights after: ${JSON.stringify(readRouteWeights(out, 'vs', ref))}`);

const keys = manyKeys(20_000);
const keyParse = time(() => parseAllDocuments(keys, { uniqueKeys: false }));
const keyState = time(() => readRouteWeights(keys, 'vs', ref));
console.log(`20 000-key map (${(keys.length / 1024 / 1024).toFixed(2)} MiB): parse without the duplicate-key check ${keyParse.toFixed(0)} ms, readRouteWeights ${keyState.toFixed(0)} ms`);
