import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { Command, Option } from 'commander';
import { UsageError } from '../common/command-errors.js';
import { loadConfigFile } from '../config/load-config.js';
import { expandLogPaths } from '../replay/log-files.js';
import { loadConfiguredPolicy, loadReplayPolicy, withScratchDir } from '../replay/policy-loader.js';
import { list, nonNegativeInt, parseTime, reportSkipped, STDERR_LOGGER } from '../replay/replay-command.js';
import { fileSource, type EventSource } from './events.js';
import { postgresSource } from './postgres-source.js';
import { analyzePrivileges } from './privileges.js';
import type { PrivilegesReport } from './privileges-report.js';
import { formatPrivilegesJson, formatPrivilegesTable } from './report-format.js';
import { formatPrivilegesHtml } from './report-html.js';

const FORMATS = { table: formatPrivilegesTable, json: formatPrivilegesJson, html: formatPrivilegesHtml };

interface PrivilegesCliOptions {
  logs?: string[];
  postgres?: boolean;
  policy?: string;
  config?: string;
  tests: string;
  since?: number;
  until?: number;
  server?: string[];
  minCalls: number;
  suggest?: string;
  format: keyof typeof FORMATS;
  output?: string;
  reportDir?: string;
}

/** The suggestion file: the JSON Patch `toolgate replay --data-patch` applies, with why and against what. */
function suggestionFile(r: PrivilegesReport): string {
  const s = r.suggestion!;
  return (
    JSON.stringify(
      {
        kind: 'privileges-suggestion',
        schema_version: 1,
        generated_at: r.generated_at,
        policy: r.policy,
        period: r.period,
        note: 'Never applied by toolgate. Check it: toolgate replay <policy> --baseline <policy> --logs <same logs> --data-patch <this file>; apply it to the policy data yourself.',
        changes: s.changes,
        withdrawn: s.withdrawn,
        patch: s.changes.flatMap((c) => c.ops),
      },
      null,
      2,
    ) + '\n'
  );
}

async function run(o: PrivilegesCliOptions): Promise<void> {
  if (!o.policy && !o.config) throw new UsageError('privileges_policy_missing', 'name the policy: --policy <dir|bundle> or --config <toolgate config>');
  if (!o.logs === !o.postgres) throw new UsageError('privileges_source_missing', 'name one source: --logs <paths...> or --postgres (with --config)');
  Logger.overrideLogger(STDERR_LOGGER);
  const config = o.config ? loadConfigFile(o.config) : undefined;
  let source: EventSource;
  if (o.postgres) {
    const pg = config?.decision_logs.postgres;
    if (!pg) throw new UsageError('privileges_postgres_missing', '--postgres reads the decision store of --config (decision_logs.postgres); the config has none');
    source = postgresSource(pg, o.since, o.until);
  } else source = fileSource(await expandLogPaths(o.logs!, reportSkipped('privileges')));
  const report = await withScratchDir(async (scratch) => {
    const policy = o.policy
      ? await loadReplayPolicy({ location: o.policy, tests: o.tests, out: scratch }, config?.policy.bundle?.signing, config?.policy.max_memory_pages)
      : await loadConfiguredPolicy(config!, scratch);
    const location = o.policy ?? `${o.config} (${policy.source.kind} ${policy.source.location})`;
    return analyzePrivileges({
      policy: { ...policy, location },
      source,
      filter: { since: o.since, until: o.until, servers: o.server },
      minCalls: o.minCalls,
      suggest: o.suggest !== undefined,
    });
  });
  if (o.suggest && report.suggestion) {
    report.suggestion.file = o.suggest;
    await writeFile(o.suggest, suggestionFile(report));
  }
  const text = FORMATS[o.format](report);
  if (o.output) await writeFile(o.output, text);
  else process.stdout.write(text);
  if (o.reportDir) {
    await mkdir(o.reportDir, { recursive: true });
    const stamp = report.generated_at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    await writeFile(path.join(o.reportDir, `privileges-${stamp}.json`), formatPrivilegesJson(report));
  }
}

/** `toolgate privileges`: least-privilege findings over the recorded decisions of a period. */
export function privilegesCommand(): Command {
  return new Command('privileges')
    .summary('Least-privilege findings: the scopes and roles each client and subject holds but did not need')
    .description(
      'Reads the recorded decisions of a period (decision-log files, rotated, gzipped and per-worker ones included, or the ' +
        'PostgreSQL decision store) and, per client_id and per subject, lists the scopes and roles held, those needed (some ' +
        'allowed call, replayed at its recorded time with that scope or role removed, is denied) and the unused rest, with the ' +
        'evidence; also catalog tools nobody called and argument limits never approached. --suggest writes a data patch that ' +
        'would tighten the policy, replayed over the period with no allow→deny; it is never applied.',
    )
    .option('--logs <paths...>', 'decision-log files, directories or patterns (decisions.jsonl*, *.gz)')
    .option('--postgres', 'read the PostgreSQL decision store of --config (decision_logs.postgres) instead of files')
    .option('--policy <dir|bundle>', 'the policy to replay with: a directory (checked, tested, built) or a bundle file')
    .option('--config <file>', 'toolgate config: its policy unless --policy is given, its decision store for --postgres, its bundle signing keys')
    .option('--tests <dir>', "the policy directory's Rego tests (the gate)", 'rego-tests')
    .option('--since <time>', 'only events at or after this time (RFC 3339, or 90m / 24h / 30d ago)', (v) => parseTime(v))
    .option('--until <time>', 'only events before this time', (v) => parseTime(v))
    .option('--server <ids>', 'only these servers (comma separated, repeatable)', list)
    .option('--min-calls <n>', 'allowed calls a caller needs before anything is called unused', nonNegativeInt, 20)
    .option('--suggest <file>', 'write a suggested data patch (JSON Patch) here; toolgate replay --data-patch checks it')
    .addOption(new Option('--format <format>', 'report format').choices(Object.keys(FORMATS)).default('table'))
    .option('--output <file>', 'write the report here instead of stdout')
    .option('--report-dir <dir>', 'also file the JSON report as <dir>/privileges-<time>.json (the console lists console.reports_dir, default build/reports)')
    .addHelpText('after', '\nExit codes: 0 report written (findings or not), 1 failure (the policy refused: build, tests, parity, signature; no log files), 2 usage error (no policy, no or two sources, a bad config), 3 unexpected error (e.g. database unreachable).')
    .action((o: PrivilegesCliOptions) => run(o));
}
