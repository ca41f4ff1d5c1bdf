#!/usr/bin/env node
// Bundles the web app (src/web) into dist/web: index.html, assets/app.js
// (minified ES module with source map, src/h264 bundled in) and
// assets/app.css. The daemon and `rearview view` serve that folder.
// Type checking is done by `tsc -p tsconfig.json`, which includes src/web
// (the DOM lib is enabled), so esbuild only has to bundle.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'web');
const out = join(root, 'dist', 'web');

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
const started = Date.now();
const result = await build({
  entryPoints: { app: join(src, 'app.ts'), 'app-css': join(src, 'app.css') },
  outdir: join(out, 'assets'),
  entryNames: '[name]',
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  // Browsers with WebCodecs or MSE and ES2020; older ones are not a goal.
  target: ['chrome94', 'firefox100', 'safari15'],
  platform: 'browser',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
// esbuild names the CSS bundle after its entry; give it its public name.
copyFileSync(join(out, 'assets', 'app-css.css'), join(out, 'assets', 'app.css'));
rmSync(join(out, 'assets', 'app-css.css'));
rmSync(join(out, 'assets', 'app-css.css.map'), { force: true });
copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`build-web: dist/web in ${Date.now() - started} ms (${Math.round(bytes / 1024)} KiB)`);
