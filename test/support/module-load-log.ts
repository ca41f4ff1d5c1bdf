/**
 * Preloaded into a `rearview serve` child (`NODE_OPTIONS=--import <this file>`)
 * when REARVIEW_TEST_MODULE_LOG names a file: every ES module the process
 * loads is appended to that file, one URL a line (module-load-log-hooks.ts).
 * How the tests see which optional modules the daemon loaded. CommonJS
 * `require()` and native addons do not pass the hooks: for those, read
 * /proc/PID/maps.
 */
import { register } from 'node:module';

const path = process.env.REARVIEW_TEST_MODULE_LOG;
if (path) register(new URL('./module-load-log-hooks.js', import.meta.url), { data: { path } });
