// Builds the operator console (console/src) into dist/console/: index.html, app.js, app.css.
// esbuild bundles Preact and uPlot in; nothing is fetched from a CDN at runtime.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'dist', 'console');

// Files are overwritten in place (no rm -rf first): a toolgate serving dist/console during a
// rebuild, e.g. another jest worker, never sees the directory missing.
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: path.join(here, 'src', 'main.tsx') },
  outdir: out,
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'iife',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
});
await copyFile(path.join(here, 'src', 'index.html'), path.join(out, 'index.html'));
process.stdout.write(`console built into ${path.relative(process.cwd(), out) || out}\n`);
