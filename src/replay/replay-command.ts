import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Logger, type LoggerService } from '@nestjs/common';
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../common/command-errors.js';
import { loadConfigFile } from '../config/load-config.js';
import { readDataPatch, withDataPatch } from './data-patch.js';
import { expandLogPaths, type SkippedFile } from './log-files.js';
import { loadConfiguredPolicy, loadReplayPolicy, withScratchDir } from './policy-loader.js';
import { replay, type ReplayReport } from './replay.js';
import { formatJson, formatMarkdown, formatTable } from './report-format.js';
import { formatHtml } from './report-html.js';

/** Thrown when the flips cross `--max-flips`; the CLI exits 4. */
export class FlipThresholdError extends Error {}

const FORMATS = { table: formatTable, json: formatJson, markdown: formatMarkdown, html: formatHtml };

/** An RFC 3339 time, or a duration back from now: `90m`, `24h`, `7d`. */
export function parseTime(v: string, now = Date.now()): number {
  const rel = /^(\d+)(m|h|d)$/.exec(v);
  if (rel) return now - Number(rel[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'm' | 'h' | 'd'];
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || !Number.isFinite(t)) throw new InvalidArgumentError('expected an RFC 3339 time (2026-11-23T00:00:00Z) or a duration back from now (90m, 24h, 7d)');
  return t;
}

/** A commander parser for counts. */
export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

/** A commander parser for comma-separated, repeatable lists. */
export function list(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
}

interface ReplayCliOptions {
  logs: string[];
  baseline?: string;
  config?: string;
  tests: string;
  baselineTests?: string;
  since?: number;
  until?: number;
  server?: string[];
  tool?: string[];
  revision?: string[];
  format: keyof typeof FORMATS;
  output?: string;
  failOn: 'deny-to-allow' | 'any';
  maxFlips: number;
  samples: number;
  listSubjects?: boolean;
  dataPatch?: string;
}

/** Policy builds and loads log through Nest's Logger; on the command line that goes to stderr, so stdout stays the report. */
export const STDERR_LOGGER: LoggerService = {
  log: (m: unknown) => process.stderr.write(`${String(m)}\n`),
  warn: (m: unknown) => process.stderr.write(`warning: ${String(m)}\n`),
  error: (m: unknown) => process.stderr.write(`error: ${String(m)}\n`),
};

/** Whether the report crosses the CI threshold. */
export function crossesThreshold(r: ReplayReport, failOn: 'deny-to-allow' | 'any', maxFlips: number): boolean {
  const flips = failOn === 'any' ? r.allow_to_deny + r.deny_to_allow : r.deny_to_allow;
  return flips > maxFlips;
}

/** Prints, on stderr, each file a log directory or pattern held that is not a decision log. */
export function reportSkipped(command: string): (s: SkippedFile) => void {
  return (s) => process.stderr.write(`${command}: skipped ${s.file}: ${s.reason}\n`);
}

const SAME_REVISION_HELP =
  'replay against the revision that is deployed instead: --baseline <the deployed bundle file>, or a checkout of the deployed commit ' +
  '(git archive <commit> policies rego-tests | tar -x -C <dir>; --baseline <dir>/policies --baseline-tests <dir>/rego-tests); see the README, "Replay against what is deployed"';

async function run(candidate: string, o: ReplayCliOptions): Promise<void> {
  if (!o.baseline && !o.config) throw new UsageError('replay_baseline_missing', 'name the baseline: --baseline <dir|bundle> or --config <toolgate config>');
  Logger.overrideLogger(STDERR_LOGGER);
  const config = o.config ? loadConfigFile(o.config) : undefined;
  // The same directory on both sides is known before anything is built; a data patch makes the candidate differ.
  const baseDir = o.baseline ?? (config?.policy.mode === 'source' ? config.policy.source.policies : undefined);
  if (!o.dataPatch && baseDir && path.resolve(baseDir) === path.resolve(candidate)) {
    throw new UsageError('replay_same_revision', `the candidate ${candidate} is also the baseline${o.baseline ? '' : ` (${o.config} policy.source.policies)`}: the replay would compare a policy with itself; ${SAME_REVISION_HELP}`);
  }
  const signing = config?.policy.bundle?.signing;
  const pages = config?.policy.max_memory_pages;
  const files = await expandLogPaths(o.logs, reportSkipped('replay'));
  const report = await withScratchDir(async (scratch) => {
    const loaded = await loadReplayPolicy({ location: candidate, tests: o.tests, out: path.join(scratch, 'candidate') }, signing, pages);
    // A data-only change (e.g. a `toolgate privileges --suggest` file) replays on the candidate without a rebuild.
    const cand = o.dataPatch ? await withDataPatch(loaded, await readDataPatch(o.dataPatch), o.dataPatch) : loaded;
    const candLocation = o.dataPatch ? `${candidate} + data patch ${o.dataPatch}` : candidate;
    const base = o.baseline
      ? await loadReplayPolicy({ location: o.baseline, tests: o.baselineTests ?? o.tests, out: path.join(scratch, 'baseline') }, signing, pages)
      : await loadConfiguredPolicy(config!, path.join(scratch, 'baseline'));
    const baseLocation = o.baseline ?? `${o.config} (${base.source.kind} ${base.source.location})`;
    if (cand.contentHash === base.contentHash) {
      throw new UsageError(
        'replay_same_revision',
        `the candidate ${candLocation} and the baseline ${baseLocation} are the same revision (content ${cand.contentHash.slice(0, 19)}): the replay would compare a policy with itself; ${SAME_REVISION_HELP}`,
      );
    }
    return replay({
      candidate: { ...cand, location: candLocation },
      baseline: { ...base, location: baseLocation },
      files,
      filter: { since: o.since, until: o.until, servers: o.server, tools: o.tool, revisions: o.revision },
      samples: o.samples,
      listSubjects: o.listSubjects,
    });
  });
  const text = FORMATS[o.format](report);
  if (o.output) await writeFile(o.output, text);
  else process.stdout.write(text);
  if (crossesThreshold(report, o.failOn, o.maxFlips)) {
    const what = o.failOn === 'any' ? `${report.allow_to_deny + report.deny_to_allow} flip(s)` : `${report.deny_to_allow} deny→allow flip(s)`;
    throw new FlipThresholdError(`${what}, more than --max-flips ${o.maxFlips}`);
  }
}

/** `toolgate replay`: re-decide recorded decisions with a candidate and a baseline policy, and report what would change. */
export function replayCommand(): Command {
  return new Command('replay')
    .summary('Re-evaluate recorded decisions on a candidate policy and a baseline; report what would change')
    .description(
      'Reads decision-log files (rotated and gzipped ones included), re-evaluates every recorded input on the ' +
        'baseline and on <candidate> through the WASM runtime the service answers with, each at its recorded time, ' +
        'and reports flips, changed codes and reasons, masked-input, not-replayable and baseline-drift counts. ' +
        '<candidate> is a policy directory (checked, tested and parity-gated as source mode would) or a bundle file ' +
        '(verified as bundle mode would, with the signing keys of --config).',
    )
    .argument('<candidate>', 'policy directory or bundle file')
    .requiredOption('--logs <paths...>', 'decision-log files, directories or patterns (decisions.jsonl*, *.gz); other files in a directory are skipped, and named')
    .option('--baseline <dir|bundle>', 'baseline policy directory or bundle file')
    .option('--config <file>', "toolgate config: its policy source is the baseline unless --baseline is given; its bundle signing keys verify bundles")
    .option('--tests <dir>', "the candidate directory's Rego tests (the gate)", 'rego-tests')
    .option('--baseline-tests <dir>', "the baseline directory's Rego tests (default: --tests)")
    .option('--since <time>', 'only events at or after this time (RFC 3339, or 90m / 24h / 7d ago)', (v) => parseTime(v))
    .option('--until <time>', 'only events before this time', (v) => parseTime(v))
    .option('--server <ids>', 'only these servers (comma separated, repeatable)', list)
    .option('--tool <names>', 'detail only these tools, resources or prompts (comma separated, repeatable); the others are replayed and counted on one line', list)
    .option('--revision <labels>', 'only events decided by these revisions or content hashes', list)
    .addOption(new Option('--format <format>', 'report format').choices(Object.keys(FORMATS)).default('table'))
    .option('--output <file>', 'write the report here instead of stdout')
    .addOption(new Option('--fail-on <what>', 'which flips count against --max-flips').choices(['deny-to-allow', 'any']).default('deny-to-allow'))
    .option('--max-flips <n>', 'exit 4 when more flips than this', nonNegativeInt, 0)
    .option('--samples <n>', 'sample decision ids per kind of change', nonNegativeInt, 5)
    .option('--list-subjects', 'list the affected subjects, not only count them')
    .option('--data-patch <file>', "apply this JSON Patch (RFC 6902) to the candidate's data first, e.g. a toolgate privileges --suggest file")
    .addHelpText(
      'after',
      '\nExit codes: 0 within the threshold, 1 failure (a policy refused: build, tests, parity, signature; no log files), ' +
        '2 usage error (no baseline, a bad config, candidate and baseline the same revision), 3 unexpected error, 4 flips beyond --max-flips.',
    )
    .action((candidate: string, o: ReplayCliOptions) => run(candidate, o));
}
