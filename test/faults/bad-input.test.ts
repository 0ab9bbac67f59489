// Fault suite, bad input: hostile or careless commits to the GitOps repository (and bad promoter
// configs) meet the real promoter, real git and a real Prometheus. Each case checks that the error
// names the file or field, that the canary holds (never promoted, never rolled back because of the
// input), and that nothing is committed: the remote branch stays where the bad commit left it.
//
// Speed: every case is its own canary (a copy of backend under its own name and files) in ONE
// commit, judged by ONE tick; each `it` then reads its own line of that tick's report. A second
// tick adds the controls (a good canary is started, one reading the bad data is rolled back), which
// shows the cases had something to refuse and the bad values would have reached the data.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { createPromoter, type Promoter } from '../../src/promoter/app.js';
import { loadPromoterConfig, parsePromoterConfig } from '../../src/promoter/config.js';
import { setAnnotation, setImage, setRouteWeights } from '../../src/promoter/manifest-edits.js';
import type { CanaryReport, TickReport } from '../../src/promoter/reconcile.js';
import { ANNOTATIONS } from '../../src/promoter/state.js';
import { repoRoot } from '../../src/schemas/registry.js';
import { fastPolicyText } from '../support/environment.js';
import { startFakeArgoCd, type FakeArgoCd } from '../support/fake-argocd.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from '../support/git-remote.js';
import { startPrometheus, type PrometheusProcess } from '../support/prometheus.js';
import { startExporter, type Exporter } from './support/exporter.js';
import { faultCase, type CaseRecord } from './support/record.js';

const TEMPLATE = {
  policy: 'gitops/apps/backend/canary.yaml',
  vs: 'gitops/istio/traffic-management/virtualservices/backend.yaml',
  stable: 'gitops/apps/backend/base/deployment-stable.yaml',
  canary: 'gitops/apps/backend/base/deployment-canary.yaml',
};
type Role = keyof typeof TEMPLATE;
type Texts = Record<Role, string>;
const SERVICE_FILE = 'gitops/apps/backend/base/service.yaml';

let dir: string;
let remoteDir: string;
let argo: FakeArgoCd;
let exporter: Exporter;
let prometheus: PrometheusProcess;
let promoter: Promoter;
let template: Texts;
/** every query the promoter sent to Prometheus, with the HTTP status it got. */
const queries: { url: string; status: number }[] = [];

const git = (...args: string[]) => execFileSync('git', [`--git-dir=${remoteDir}`, ...args], { env: cleanGitEnv(dir), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const head = () => git('rev-parse', 'main').trim();
const show = (path: string) => git('show', `main:${path}`);
const syncHead = () => {
  for (const app of ['docuthinker-mesh', 'docuthinker-apps']) argo.reportSynced(app, head());
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const literally = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

/** Where canary `name`'s files are: backend's paths with backend replaced by the name. */
function pathsOf(name: string): Texts {
  return Object.fromEntries(Object.entries(TEMPLATE).map(([role, path]) => [role, path.replaceAll('backend', name)])) as Texts;
}

/** Canary `name`: backend's policy and manifests renamed, one-second windows, a new canary image waiting. */
function canaryTexts(name: string): Texts {
  const rename = (text: string) => text.replaceAll('backend', name);
  const canary = setImage(rename(template.canary), pathsOf(name).canary, { deployment: `${name}-canary`, container: name }, `ghcr.io/docuthinker/${name}:2.0.0-rc1`);
  return { policy: fastPolicyText(rename(template.policy), 1, 3), vs: rename(template.vs), stable: rename(template.stable), canary };
}

/** The same canary already at its first step (5 %), started `startedAt`, as the promoter would have written it. */
function progressing(name: string, texts: Texts, startedAt: string): Texts {
  const file = pathsOf(name).vs;
  const vsRef = { kind: 'VirtualService', name };
  let vs = setRouteWeights(texts.vs, file, { virtualService: name, route: 'primary', stableSubset: 'stable', canarySubset: 'canary' }, { stable: 95, canary: 5 });
  vs = setAnnotation(vs, file, vsRef, ANNOTATIONS.canaryStartedAt, startedAt);
  vs = setAnnotation(vs, file, vsRef, ANNOTATIONS.stepStartedAt, startedAt);
  vs = setAnnotation(vs, file, vsRef, ANNOTATIONS.canaryImage, `ghcr.io/docuthinker/${name}:2.0.0-rc1`);
  return { ...texts, vs };
}

/** A policy with one field set to a hostile value. */
function withField(policy: string, path: (string | number)[], value: unknown): string {
  const doc = parseDocument(policy);
  doc.setIn(path, value);
  return doc.toString();
}

function filesOf(name: string, texts: Texts): Record<string, string> {
  const paths = pathsOf(name);
  return Object.fromEntries((Object.keys(TEMPLATE) as Role[]).map((role) => [paths[role], texts[role]]));
}

const bomb = (indent: string) =>
  [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
  ]
    .map((line) => `${indent}${line}`)
    .join('\n');

interface BadCase {
  name: string;
  /** the canary's texts with the bad input in (p: its paths). */
  make: (t: Texts, p: Texts) => Texts;
  /** what the error (or hold reason) must say: the file, and the field or the fault. */
  says: (p: Texts) => RegExp[];
  /** error: skipped or unreadable; held: read, but not a step of the policy (a person's weights). */
  outcome?: 'error' | 'held';
  /** progressing: the canary is at 5 % and would be analysed; default ready (would be started). */
  progressing?: boolean;
}

const policyCase = (name: string, path: (string | number)[], value: unknown, ...says: RegExp[]): BadCase => ({
  name: `policy: ${name}`,
  make: (t) => ({ ...t, policy: withField(t.policy, path, value) }),
  says: (p) => [literally(p.policy), ...says],
});

/** Refused before any analysis: the waiting canary must not be started. */
const refusedCases: BadCase[] = [
  { name: 'policy: malformed YAML', make: (t) => ({ ...t, policy: `${t.policy}\n  steps: [ { weight: 5\n` }), says: (p) => [literally(p.policy), /YAML/] },
  { name: 'policy: alias bomb', make: (t) => ({ ...t, policy: `${t.policy}\n${bomb('')}\n` }), says: (p) => [literally(p.policy), /alias/i] },
  { name: 'policy: duplicate key', make: (t) => ({ ...t, policy: t.policy.replace(/\n {2}service: (\S+)\n/, '\n  service: $1\n  service: frontend\n') }), says: (p) => [literally(p.policy), /unique/i] },
  { name: 'policy: a list, not a mapping', make: (t) => ({ ...t, policy: '- just\n- a list\n' }), says: (p) => [literally(p.policy), /expected object/i] },
  { name: 'policy: an empty file', make: (t) => ({ ...t, policy: '' }), says: (p) => [literally(p.policy)] },
  { name: 'policy: two YAML documents', make: (t) => ({ ...t, policy: `${t.policy}\n---\n${t.policy}` }), says: (p) => [literally(p.policy), /YAML/] },
  { name: 'policy: NUL bytes', make: (t) => ({ ...t, policy: `${t.policy}\0\0` }), says: (p) => [literally(p.policy), /YAML/] },
  policyCase('wrong kind (a Service)', ['kind'], 'Service', /kind/),
  policyCase('unknown field', ['spec', 'replicas'], 3, /replicas/),
  policyCase('steps not increasing', ['spec', 'steps'], [{ weight: 50 }, { weight: 10 }, { weight: 100 }], /spec\.steps/, /increase/),
  policyCase('repeated step', ['spec', 'steps'], [{ weight: 50 }, { weight: 50 }, { weight: 100 }], /spec\.steps/, /increase/),
  policyCase('last step below 100', ['spec', 'steps'], [{ weight: 5 }, { weight: 50 }], /spec\.steps/, /100/),
  policyCase('a step above 100', ['spec', 'steps'], [{ weight: 5 }, { weight: 150 }], /spec\.steps\.1\.weight/),
  policyCase('a fractional weight', ['spec', 'steps'], [{ weight: 2.5 }, { weight: 100 }], /spec\.steps\.0\.weight/),
  policyCase('an infinite weight (.inf)', ['spec', 'steps', 0, 'weight'], Number.POSITIVE_INFINITY, /spec\.steps\.0\.weight/),
  { name: 'policy: an oversize weight (1e400)', make: (t) => ({ ...t, policy: t.policy.replace(/weight: 5\n/, 'weight: 1e400\n') }), says: (p) => [literally(p.policy), /spec\.steps\.0\.weight/] },
  { name: 'policy: an oversize integer weight', make: (t) => ({ ...t, policy: t.policy.replace(/weight: 5\n/, 'weight: 123456789012345678901234567890\n') }), says: (p) => [literally(p.policy), /spec\.steps\.0\.weight/] },
  policyCase('a negative dwell', ['spec', 'steps', 0, 'minDwell'], -30, /spec\.steps\.0\.minDwell/),
  policyCase('a garbage duration', ['spec', 'analysis', 'interval'], '1 fortnight', /spec\.analysis\.interval/),
  policyCase('a success-rate floor above 1', ['spec', 'analysis', 'successRate', 'min'], 1e300, /spec\.analysis\.successRate\.min/),
  policyCase('path escape with ..', ['spec', 'virtualService', 'file'], '../../../../etc/passwd', /spec\.virtualService\.file/, /inside the repository/),
  policyCase('path escape through a folder', ['spec', 'deployments', 'canary', 'file'], 'gitops/../../outside.yaml', /spec\.deployments\.canary\.file/, /inside the repository/),
  policyCase('an absolute path', ['spec', 'deployments', 'stable', 'file'], '/etc/hostname', /spec\.deployments\.stable\.file/, /inside the repository/),
  { name: 'policy: one file in two roles', make: (t, p) => ({ ...t, policy: withField(t.policy, ['spec', 'deployments', 'canary', 'file'], p.stable) }), says: (p) => [literally(p.policy), /three different files/] },
  policyCase('a name that is not a DNS label', ['metadata', 'name'], 'Back End!', /metadata\.name/),
  {
    name: 'policy: names a file that does not exist',
    make: (t) => ({ ...t, policy: withField(t.policy, ['spec', 'virtualService', 'file'], 'gitops/istio/nowhere.yaml') }),
    says: () => [/gitops\/istio\/nowhere\.yaml/, /does not exist/],
  },
  {
    name: 'policy: a VirtualService file that holds a Service',
    make: (t) => ({ ...t, policy: withField(t.policy, ['spec', 'virtualService', 'file'], SERVICE_FILE) }),
    says: () => [literally(SERVICE_FILE), /no VirtualService named/],
  },
  { name: 'policy: a missing route', make: (t) => ({ ...t, policy: withField(t.policy, ['spec', 'virtualService', 'route'], 'no-such-route') }), says: (p) => [literally(p.vs), /no http route named "no-such-route"/] },
  { name: 'policy: a missing subset', make: (t) => ({ ...t, policy: withField(t.policy, ['spec', 'subsets', 'canary'], 'canary-v2') }), says: (p) => [literally(p.vs), /no destination with subset "canary-v2"/] },
  { name: 'policy: a missing container', make: (t) => ({ ...t, policy: withField(t.policy, ['spec', 'deployments', 'canary', 'container'], 'sidecar') }), says: (p) => [literally(p.canary), /no container "sidecar"/] },
  { name: 'manifest: malformed YAML', make: (t) => ({ ...t, vs: `${t.vs}\n  - name: [unclosed\n` }), says: (p) => [literally(p.vs), /YAML/] },
  { name: 'manifest: duplicate key', make: (t) => ({ ...t, canary: t.canary.replace('  replicas: 1\n', '  replicas: 1\n  replicas: 50\n') }), says: (p) => [literally(p.canary), /unique/i] },
  { name: 'manifest: alias bomb in the Deployment', make: (t) => ({ ...t, canary: t.canary.replace('\nmetadata:\n', `\nx-padding:\n${bomb('  ')}\nmetadata:\n`) }), says: (p) => [literally(p.canary), /alias/i] },
  { name: 'manifest: alias bomb in a second document', make: (t) => ({ ...t, vs: `${t.vs}\n---\n${bomb('')}\n` }), says: (p) => [literally(p.vs), /alias/i] },
  { name: 'manifest: the route removed', make: (t) => ({ ...t, vs: t.vs.replace('- name: primary', '- name: primary-old') }), says: (p) => [literally(p.vs), /no http route named "primary"/] },
  { name: 'manifest: the canary subset removed', make: (t) => ({ ...t, vs: t.vs.replace(/subset: canary\n(\s+port:\n\s+number: 8080\n\s+weight: 0)/, 'subset: canary-old\n$1') }), says: (p) => [literally(p.vs), /no destination with subset "canary"/] },
  { name: 'manifest: a weight that is not a number', make: (t) => ({ ...t, vs: t.vs.replace('weight: 0\n', 'weight: "zero"\n') }), says: (p) => [literally(p.vs), /no numeric weight/] },
  { name: 'manifest: an oversize weight (1e400)', make: (t) => ({ ...t, vs: t.vs.replace('weight: 100\n', 'weight: 1e400\n') }), says: () => [/not a step of the policy/], outcome: 'held' },
  { name: 'manifest: a negative weight', make: (t) => ({ ...t, vs: t.vs.replace('weight: 100\n', 'weight: 105\n').replace('weight: 0\n', 'weight: -5\n') }), says: () => [/stable 105 \/ canary -5/, /not a step of the policy/], outcome: 'held' },
  { name: 'manifest: the Deployment file holds a ConfigMap', make: (t) => ({ ...t, canary: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  image: ghcr.io/docuthinker/backend:6.6.6\n' }), says: (p) => [literally(p.canary), /no Deployment/] },
  { name: 'manifest: the VirtualService file holds a DestinationRule', make: (t) => ({ ...t, vs: t.vs.replace('kind: VirtualService', 'kind: DestinationRule') }), says: (p) => [literally(p.vs), /no VirtualService named/] },
  { name: 'manifest: the Deployment renamed away', make: (t) => ({ ...t, canary: t.canary.replace(/kind: Deployment/, 'kind: StatefulSet') }), says: (p) => [literally(p.canary), /no Deployment/] },
  { name: 'manifest: NUL bytes', make: (t) => ({ ...t, canary: `${t.canary}\0\0\0` }), says: (p) => [literally(p.canary), /YAML/] },
  // PromQL through label NAMES: the schema refuses them (issue 11 item 7), so no query is built.
  ...(['armLabel', 'serviceLabel', 'namespaceLabel'] as const).map(
    (label): BadCase => ({
      ...policyCase(`PromQL in ${label}`, ['spec', 'analysis', 'prometheus', label], 'x=~".+"} or vector(1) or up{x', new RegExp(`spec\\.analysis\\.prometheus\\.${label}: must be a Prometheus label name`)),
      progressing: true,
    }),
  ),
  { ...policyCase('a label name with a space', ['spec', 'analysis', 'prometheus', 'armLabel'], 'canonical revision', /armLabel/), progressing: true },
  { ...policyCase('an unknown reporter', ['spec', 'analysis', 'prometheus', 'reporter'], 'destination"} or vector(1) #', /reporter/), progressing: true },
];

/**
 * PromQL through label VALUES: the policy is valid, every value goes into the query escaped, so it
 * matches no series (the exporter only has backend's) and the canary holds for no data. An
 * unescaped value would either break the query (a 400) or match backend's bad canary (a rollback).
 */
const valueCases: { name: string; field: (string | number)[]; value: string; service?: string }[] = [
  { name: 'service name closing the selector', field: ['spec', 'service'], value: 'backend"} or vector(1) or up{x="' },
  { name: 'service name as a regex', field: ['spec', 'service'], value: 'back.*' },
  { name: 'service name as an alternation', field: ['spec', 'service'], value: 'backend|frontend' },
  { name: 'service name in braces', field: ['spec', 'service'], value: '{backend}' },
  { name: 'service name with a backslash', field: ['spec', 'service'], value: 'back\\end\\' },
  { name: 'service name with a newline', field: ['spec', 'service'], value: 'backend\n' },
  { name: 'namespace adding a matcher', field: ['spec', 'namespace'], value: 'docuthinker-prod", destination_service_name=~".+' },
  { name: 'namespace as a regex', field: ['spec', 'namespace'], value: '.+' },
  // An arm value picks between backend's own series, so these canaries watch a service with none.
  { name: 'canary arm value as a regex', field: ['spec', 'analysis', 'prometheus', 'canaryValue'], value: '.*', service: 'nobody' },
  { name: 'stable arm value closing the selector', field: ['spec', 'analysis', 'prometheus', 'stableValue'], value: 'stable"} or vector(1) or up{x="', service: 'nobody' },
];

const caseName = (prefix: string, i: number) => `${prefix}-${String(i).padStart(2, '0')}`;
let firstTick: TickReport;
let secondTick: TickReport;
let badCommit: string;
let controlCommit: string;
let queriesInFirstTick: { url: string; status: number }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faults-bad-input-'));
  // Backend's canary answers ~29 % 5xx against stable's 0.1 %: whatever reads these series rolls it
  // back, so a value that leaked into a query and matched them would show up as a rollback.
  exporter = await startExporter([
    { service: 'backend', namespace: 'docuthinker-prod', stable: (n) => 1000 * n, stableErrors: (n) => n, canary: (n) => 100 * n, canaryErrors: (n) => 40 * n },
  ]);
  const [prom, seeded] = await Promise.all([
    startPrometheus({ targets: [exporter.target], scrapeIntervalSeconds: 1 }),
    createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: repoRoot() }),
  ]);
  prometheus = prom;
  remoteDir = seeded.remoteDir;
  template = Object.fromEntries(Object.entries(TEMPLATE).map(([role, path]) => [role, show(path)])) as Texts;
  argo = await startFakeArgoCd({
    applications: [
      { name: 'docuthinker-mesh', repoURL: remoteDir, path: 'gitops/istio' },
      { name: 'docuthinker-apps', repoURL: remoteDir, path: 'gitops/apps/overlays/prod' },
    ],
  });
  const recorded: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    queries.push({ url: input instanceof Request ? input.url : String(input), status: response.status });
    return response;
  };
  const config = parsePromoterConfig(
    { git: { url: remoteDir, workdir: join(dir, 'clone') }, prometheus: { url: prometheus.url, timeout: '5s', settle: '1s' }, argocd: { timeout: '2s' }, tickDeadline: '90s' },
    'bad-input config',
  );
  promoter = await createPromoter(config, silentLogger(), { kubeConfigYaml: argo.kubeConfigYaml(), env: cleanGitEnv(dir), fetch: recorded });
  await waitForScrapes(prometheus.url, 4);

  // The first tick: every bad case at once, nothing else that could move.
  const startedAt = new Date(Date.now() - 4000).toISOString();
  const files: Record<string, string> = {};
  refusedCases.forEach((c, i) => {
    const name = caseName('bad', i);
    const good = canaryTexts(name);
    Object.assign(files, filesOf(name, c.make(c.progressing ? progressing(name, good, startedAt) : good, pathsOf(name))));
  });
  valueCases.forEach((c, i) => {
    const name = caseName('value', i);
    const good = canaryTexts(name);
    const texts = progressing(name, good, startedAt);
    // Service and namespace of backend, so only the one hostile value differs from the control's.
    let policy = withField(texts.policy, ['spec', 'service'], c.service ?? 'backend');
    policy = withField(policy, c.field, c.value);
    Object.assign(files, filesOf(name, { ...texts, policy }));
  });
  badCommit = await commitToRemote(remoteDir, files, 'test: bad input, one canary per case');
  syncHead();
  const before = queries.length;
  firstTick = await promoter.tick();
  queriesInFirstTick = queries.slice(before);

  // The second tick adds the controls: backend itself, progressing on the bad series, and a clean
  // copy of the first case's canary, waiting to be started.
  const control = progressing('backend', canaryTexts('backend'), startedAt);
  const cleanFirst = refusedCases[0] ? filesOf(caseName('bad', 0), canaryTexts(caseName('bad', 0))) : {};
  controlCommit = await commitToRemote(remoteDir, { ...filesOf('backend', control), ...cleanFirst }, 'test: the controls');
  syncHead();
  secondTick = await promoter.tick();
}, 180_000);

afterAll(async () => {
  await prometheus?.stop();
  await exporter?.close();
  await argo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function waitForScrapes(url: string, count: number): Promise<void> {
  const query = encodeURIComponent('min(count_over_time(istio_requests_total[1m]))');
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const body = (await (await fetch(`${url}/api/v1/query?query=${query}`)).json()) as { data?: { result?: { value?: [number, string] }[] } };
    if (Number(body.data?.result?.[0]?.value?.[1] ?? 0) >= count) return;
    await sleep(500);
  }
  throw new Error(`Prometheus at ${url} did not scrape the exporter ${count} times within 30 s`);
}

/** A case whose checks are synchronous (they read the shared ticks' reports), recorded like any other. */
const checkedCase = (record: Parameters<typeof faultCase>[0], body: (observed: CaseRecord) => void) => faultCase(record, (observed) => Promise.resolve().then(() => body(observed)));
const entryOf = (report: TickReport, name: string): CanaryReport | undefined => report.canaries.find((c) => c.canary === name);
/** Commits between two shas that touched a canary's files (none may, but the controls' own). */
const commitsTouching = (from: string, to: string, name: string) =>
  git('log', '--format=%s', '--committer=docuthinker-promoter', `${from}..${to}`, '--', ...Object.values(pathsOf(name))).split('\n').filter((s) => s !== '');

describe('fault suite: bad input in the repository', () => {
  it('the first tick commits nothing at all: the remote ref is where the bad commit left it', () => {
    expect(firstTick.error).toBeUndefined();
    expect(firstTick.head).toBe(badCommit);
    expect(git('log', '--format=%s', `${badCommit}..${controlCommit}`)).toMatch(/^test: the controls\n$/);
  });

  it.each(refusedCases.map((c, i) => [c.name, c, i] as const))('%s: refused with the file named, nothing committed', async (_name, c, i) => {
    const name = caseName('bad', i);
    await checkedCase({ class: 'bad-input', case: c.name }, (observed) => {
      // The promoter's commits touching this canary: none, but the control's start of bad-00.
      const writes = [...commitsTouching(badCommit, controlCommit, name), ...(i === 0 ? [] : commitsTouching(controlCommit, head(), name))];
      observed.wrongPromotions += writes.length;
      expect(writes).toEqual([]);
      for (const report of i === 0 ? [firstTick] : [firstTick, secondTick]) {
        const entry = entryOf(report, name);
        expect(entry?.outcome).toBe(c.outcome ?? 'error');
        const message = `${entry?.error ?? ''} ${entry?.reason ?? ''}`;
        for (const pattern of c.says(pathsOf(name))) expect(message).toMatch(pattern);
      }
      // A refused label name never reaches Prometheus.
      expect(queriesInFirstTick.filter((q) => decodeURIComponent(q.url).includes('vector(1)'))).toEqual([]);
    });
  });

  it.each(valueCases.map((c, i) => [c.name, c, i] as const))('PromQL in a label value, %s: escaped, matches nothing, the canary holds', async (_name, c, i) => {
    const name = caseName('value', i);
    await checkedCase({ class: 'bad-input', case: `PromQL in a label value: ${c.name}` }, (observed) => {
      const writes = commitsTouching(badCommit, head(), name);
      // A rollback here would be wrong too (read from another service's series): counted as a wrong decision.
      observed.wrongPromotions += writes.length;
      expect(writes).toEqual([]);
      for (const report of [firstTick, secondTick]) {
        const entry = entryOf(report, name);
        expect(entry).toMatchObject({ outcome: 'held', action: 'hold' });
        // "No data": Prometheus parsed the query and nothing matched. A 400 would say "no analysis".
        expect(entry?.reason).toMatch(/^No data/);
      }
      expect(queriesInFirstTick.length).toBeGreaterThan(0);
      expect(queriesInFirstTick.filter((q) => q.status !== 200)).toEqual([]);
    });
  });

  it('the controls: a clean copy of a refused canary is started, and backend on the same data is rolled back', () => {
    expect(secondTick.error).toBeUndefined();
    expect(entryOf(secondTick, caseName('bad', 0))).toMatchObject({ outcome: 'committed', action: 'start' });
    const rollback = entryOf(secondTick, 'backend');
    expect(rollback).toMatchObject({ outcome: 'committed', action: 'rollback' });
    expect(rollback?.verdict?.cause).toBe('critical');
    const subjects = git('log', '--format=%s', `${controlCommit}..main`).split('\n').filter((s) => s !== '').sort();
    expect(subjects).toHaveLength(2);
    expect(subjects[0]).toMatch(/^canary\(backend\): roll back/);
    expect(subjects[1]).toMatch(/^canary\(bad-00\): start/);
  });

  // A 50 MB manifest: refused at the read by the manifest size cap (git.maxManifestBytes, issue 11
  // item 5) before it is parsed; without the cap the promoter parsed it for minutes.
  it('manifest: 50 MB: refused by the size cap with the file named, nothing committed', async () => {
    await faultCase({ class: 'bad-input', case: 'manifest: 50 MB' }, async (observed) => {
      const name = 'huge';
      const texts = canaryTexts(name);
      const line = `            - { name: PAD, value: "${'x'.repeat(80)}" }\n`;
      const canary = texts.canary.replace('          env:\n', `          env:\n${line.repeat(Math.ceil((50 * 1024 * 1024) / line.length))}`);
      expect(canary.length).toBeGreaterThan(50 * 1024 * 1024);
      const offered = await commitToRemote(remoteDir, filesOf(name, { ...texts, canary }), 'test: a 50 MB manifest');
      syncHead();
      const report = await promoter.tick();
      const writes = commitsTouching(offered, head(), name);
      observed.wrongPromotions += writes.length;
      expect(writes).toEqual([]);
      expect(head()).toBe(offered);
      const entry = entryOf(report, name);
      expect(entry?.outcome).toBe('error');
      expect(entry?.error).toMatch(literally(pathsOf(name).canary));
      expect(entry?.error).toMatch(/over the manifest size cap/);
    });
  }, 300_000);
});

describe('fault suite: a bad promoter config', () => {
  const configCases: { name: string; text: string; says: RegExp }[] = [
    { name: 'malformed YAML', text: 'git:\n  url: [unclosed\n', says: /YAML/ },
    { name: 'alias bomb', text: `git: { url: /srv/git }\nprometheus: { url: "http://127.0.0.1:9090" }\n${bomb('')}\n`, says: /alias/i },
    { name: 'duplicate key', text: 'git: { url: /srv/git }\nprometheus: { url: "http://127.0.0.1:9090" }\nprometheus: { url: "http://evil.example:9090" }\n', says: /unique/i },
    { name: 'unknown key (a typo)', text: 'git: { url: /srv/git }\nprometheus: { url: "http://127.0.0.1:9090", timout: 5s }\n', says: /prometheus.*timout|timout/ },
    { name: 'Prometheus URL not a URL', text: 'git: { url: /srv/git }\nprometheus: { url: "127.0.0.1:9090/api\\"} or vector(1)" }\n', says: /prometheus\.url/ },
    { name: 'negative tick deadline', text: 'git: { url: /srv/git }\nprometheus: { url: "http://127.0.0.1:9090" }\ntickDeadline: -5\n', says: /tickDeadline/ },
    { name: 'oversize response cap (1e400)', text: 'git: { url: /srv/git }\nprometheus: { url: "http://127.0.0.1:9090", maxResponseBytes: 1e400 }\n', says: /prometheus\.maxResponseBytes/ },
    { name: 'a Lease shorter than two renewals', text: 'git: { url: /srv/git }\nprometheus: { url: "http://127.0.0.1:9090" }\nleaderElection: { enabled: true, leaseDuration: 5s, renewPeriod: 5s }\n', says: /leaderElection\.leaseDuration/ },
    { name: 'no policies', text: 'git: { url: /srv/git }\nprometheus: { url: "http://127.0.0.1:9090" }\npolicies: []\n', says: /policies/ },
  ];

  it.each(configCases.map((c) => [c.name, c] as const))('config: %s: refused with the file and field named, before anything runs', async (_name, c) => {
    await faultCase({ class: 'bad-input', case: `promoter config: ${c.name}` }, async () => {
      const before = head();
      const file = join(dir, `config-${c.name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, c.text);
      let error: unknown;
      try {
        loadPromoterConfig(file);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(literally(file));
      expect((error as Error).message).toMatch(c.says);
      expect(head()).toBe(before);
    });
  });
});
