// `promoter validate <paths...>`: the offline manifest check CI runs on every change.
import type { Command } from 'commander';
import { PermanentError, errorMessage } from '../errors.js';
import { DEFAULT_EXTERNAL_SERVICE_ACCOUNTS, formatJson, formatText, validatePaths } from '../validate/index.js';
import { EXIT } from './common.js';

interface ValidateFlags {
  format: string;
  schemas?: string;
  repo?: string;
  allowSa?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'validate manifests offline: CRD / Kubernetes schemas, istiod webhook rules, and the references between them (subsets, gateways, service accounts, Argo CD paths, CanaryPolicies)',
    )
    .argument('[paths...]', 'YAML files or folders (searched recursively for *.yaml / *.yml)')
    .option('--format <format>', 'text or json', 'text')
    .option('--schemas <dir>', 'the schema folder (default: $PROMOTER_SCHEMAS_DIR, else <repo>/../shared/schemas)')
    .option('--repo <dir>', 'the repository root for repository paths (default: the git root above the first path)')
    .option('--allow-sa <ns/name>', 'a service account that exists outside the manifests ("ns/*" for a namespace); repeatable', collect)
    .addHelpText(
      'after',
      `
Examples:
  promoter validate gitops argocd                 everything CI checks (cross-references see all files)
  promoter validate gitops/istio --format json    findings as JSON, for tools
  PROMOTER_SCHEMAS_DIR=/opt/schemas promoter validate gitops

Each finding: file:line doc#N Kind/name /json/pointer: [CODE] message
Codes are Istio's (ISTxxxx, as istioctl analyze reports them, with Istio's levels) or ours (DTxxxx); see docs/validate.md.
Exit status: 0 no errors, 1 errors found, 2 usage error (bad option, no paths, missing schema folder).`,
    )
    .exitOverride((error) => {
      // commander's own parse errors (unknown option, ...) are usage errors: exit 2, not its default 1.
      if (error.exitCode !== 0) process.exit(EXIT.usage);
    })
    .action(async (paths: string[], flags: ValidateFlags) => {
      if (paths.length === 0 || (flags.format !== 'text' && flags.format !== 'json')) {
        process.stderr.write(
          paths.length === 0 ? 'promoter validate: give at least one file or folder\n' : `promoter validate: --format must be text or json, not "${flags.format}"\n`,
        );
        process.exitCode = EXIT.usage;
        return;
      }
      try {
        const report = await validatePaths(paths, {
          ...(flags.schemas === undefined ? {} : { schemasDir: flags.schemas }),
          ...(flags.repo === undefined ? {} : { repoRoot: flags.repo }),
          externalServiceAccounts: [...DEFAULT_EXTERNAL_SERVICE_ACCOUNTS, ...(flags.allowSa ?? [])],
        });
        process.stdout.write(flags.format === 'json' ? formatJson(report) : formatText(report));
        process.exitCode = report.summary.errors > 0 ? EXIT.findings : EXIT.ok;
      } catch (error) {
        process.stderr.write(`promoter validate: ${errorMessage(error)}\n`);
        process.exitCode = error instanceof PermanentError ? EXIT.usage : EXIT.failure;
      }
    });
}
