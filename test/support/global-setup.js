// Jest global setup: compile src/ to dist/ (incremental, seconds when nothing changed), so the
// pieces tests run as separate programs (the decision-log worker thread, the CLI) are never stale.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import process from 'node:process';

export default function globalSetup() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
