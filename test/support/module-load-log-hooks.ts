/** Module hooks of module-load-log.ts: appends each loaded module's URL to the log file. */
import { appendFileSync } from 'node:fs';
import type { InitializeHook, LoadHook } from 'node:module';

let logPath = '';

export const initialize: InitializeHook<{ path: string }> = (data) => {
  logPath = data.path;
};

export const load: LoadHook = (url, context, nextLoad) => {
  // Synchronous, so the line is in the file before the module runs.
  appendFileSync(logPath, `${url}\n`);
  return nextLoad(url, context);
};
