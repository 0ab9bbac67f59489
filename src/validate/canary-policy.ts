// CanaryPolicy documents: the policy must parse, and everything it names must exist and fit a
// canary: the VirtualService and route, exactly the stable + canary subsets, the Deployments.
import { ConfigError, errorMessage } from '../errors.js';
import { parseCanaryPolicy, type CanaryPolicy } from '../promoter/policy.js';
import { findingAt } from './codes.js';
import { destinationsOf, hostKey, subsetsFor } from './cross-refs.js';
import { parseManifestText } from './load.js';
import { arr, at, str } from './shape.js';
import type { Finding, LoadedDocument, RepoFiles } from './types.js';

/** "spec.steps.0.weight: message" (ConfigError issue) -> JSON pointer + message. */
function issueToFinding(doc: LoadedDocument, issue: string): Finding {
  const colon = issue.indexOf(': ');
  const where = colon < 0 ? '' : issue.slice(0, colon);
  const message = colon < 0 ? issue : issue.slice(colon + 2);
  const pointer = where === '' || where === '(root)' || where === 'YAML' ? '' : '/' + where.split('.').join('/');
  return findingAt(doc, pointer, 'DT4001', message);
}

function documentsOf(repoPath: string, docs: LoadedDocument[], files: RepoFiles): LoadedDocument[] | undefined {
  const loaded = docs.filter((d) => d.repoPath === repoPath);
  if (loaded.length > 0) return loaded;
  const text = files.readText(repoPath);
  return text === undefined ? undefined : parseManifestText(text, repoPath, repoPath).documents;
}

function checkDeployment(doc: LoadedDocument, policy: CanaryPolicy, arm: 'stable' | 'canary', docs: LoadedDocument[], files: RepoFiles): Finding[] {
  const ref = policy.spec.deployments[arm];
  const found = documentsOf(ref.file, docs, files);
  if (found === undefined) return [findingAt(doc, `/spec/deployments/${arm}/file`, 'DT4002', `${ref.file} does not exist`)];
  const deployments = found.filter((d) => d.kind === 'Deployment');
  if (deployments.length === 0) return [findingAt(doc, `/spec/deployments/${arm}/file`, 'DT4006', `${ref.file} holds no Deployment`)];
  const containers = deployments.flatMap((d) => arr(at(d.body, 'spec', 'template', 'spec', 'containers')).map((c) => str(at(c, 'name'))));
  if (containers.includes(ref.container)) return [];
  return [findingAt(doc, `/spec/deployments/${arm}/container`, 'DT4006', `no container "${ref.container}" in ${ref.file} (has ${containers.join(', ') || 'none'})`)];
}

function checkRoute(doc: LoadedDocument, policy: CanaryPolicy, docs: LoadedDocument[], files: RepoFiles): Finding[] {
  const { file, name, route } = policy.spec.virtualService;
  const found = documentsOf(file, docs, files);
  if (found === undefined) return [findingAt(doc, '/spec/virtualService/file', 'DT4002', `${file} does not exist`)];
  const vs = found.find((d) => d.kind === 'VirtualService' && d.name === name);
  if (!vs) return [findingAt(doc, '/spec/virtualService/name', 'DT4003', `no VirtualService "${name}" in ${file}`)];
  const index = arr(at(vs.body, 'spec', 'http')).findIndex((r) => str(at(r, 'name')) === route);
  if (index < 0) return [findingAt(doc, '/spec/virtualService/route', 'DT4003', `VirtualService ${name} has no http route named "${route}"`)];
  const destinations = destinationsOf(vs).filter((u) => u.path[2] === index && u.path[3] === 'route');
  const subsets = destinations.map((u) => str(at(u.destination, 'subset')));
  const { stable, canary } = policy.spec.subsets;
  const findings: Finding[] = [];
  if (subsets.length !== 2 || !subsets.includes(stable) || !subsets.includes(canary)) {
    findings.push(
      findingAt(doc, '/spec/virtualService/route', 'DT4004', `route "${route}" must route to exactly the subsets ${stable} and ${canary}, has [${subsets.map((s) => s ?? '(none)').join(', ')}]`),
    );
  }
  const rules = docs.filter((d) => d.kind === 'DestinationRule');
  const host = str(at(destinations[0]?.destination, 'host'));
  const key = host === undefined ? undefined : hostKey(host, vs.namespace ?? policy.spec.namespace);
  if (key && rules.length > 0) {
    const defined = subsetsFor(key, rules);
    for (const arm of ['stable', 'canary'] as const) {
      const subset = policy.spec.subsets[arm];
      if (!defined.has(subset)) findings.push(findingAt(doc, `/spec/subsets/${arm}`, 'DT4005', `no DestinationRule for host ${host} defines subset "${subset}"`));
    }
  }
  return findings;
}

/** Findings for one CanaryPolicy document, given every document of the run and the repository. */
export function checkCanaryPolicy(doc: LoadedDocument, docs: LoadedDocument[], files: RepoFiles): Finding[] {
  let policy: CanaryPolicy;
  try {
    policy = parseCanaryPolicy(doc.text, doc.file);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((issue) => issueToFinding(doc, issue));
    return [findingAt(doc, '', 'DT4001', errorMessage(error))];
  }
  return [
    ...checkRoute(doc, policy, docs, files),
    ...checkDeployment(doc, policy, 'stable', docs, files),
    ...checkDeployment(doc, policy, 'canary', docs, files),
  ];
}
