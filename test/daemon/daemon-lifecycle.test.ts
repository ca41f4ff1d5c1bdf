/**
 * RearviewDaemon lifecycle regressions: the API service failing to bind
 * (EADDRINUSE) was never closed (its device, mode controller and web mount
 * stayed alive in an embedding process), and applyConfig() racing close()
 * started a new capture source after the daemon had closed.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { RearviewDaemon } from '../../src/daemon.js';
import { loadConfig, type RearviewConfig } from '../../src/config.js';
import type { Logger } from '../../src/log/logger.js';
import { createSource } from '../../src/sources/create-source.js';
import { startDaemonInProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

describe('RearviewDaemon lifecycle', () => {
  it('closes the API service when it fails to bind its port', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const scratch = scratchDir();
    try {
      const port = (taken.address() as AddressInfo).port;
      const config = loadConfig({
        overrides: {
          bind: '127.0.0.1',
          streamPort: 0,
          apiPort: port,
          record: false,
          mdns: false,
          deviceBackend: 'simulated',
          recordingsDir: scratch.dir,
        },
      });
      const daemon = new RearviewDaemon(config);
      await assert.rejects(daemon.start(), /EADDRINUSE/);
      const api = daemon.services.find((s) => s.name === 'api') as unknown as { closed: boolean } | undefined;
      assert.ok(api, 'the API service was created');
      assert.equal(api.closed, true, 'the half-started API service was closed');
      await daemon.close();
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
      scratch.cleanup();
    }
  });

  // Regression (second review, N1): close() during a part's start() closed that part half-way,
  // and daemon.start() never settled (the API server's listen callback never came).
  it('close() during start-up waits for the part that is starting, then start() rejects', async () => {
    const scratch = scratchDir();
    try {
      const events: string[] = [];
      let releaseStart: (() => void) | undefined;
      const slow = {
        name: 'slow',
        start: () =>
          new Promise<void>((resolve) => {
            releaseStart = () => {
              events.push('started');
              resolve();
            };
          }),
        close: async () => {
          events.push('closed');
        },
      };
      const config = loadConfig({
        overrides: {
          bind: '127.0.0.1',
          streamPort: 0,
          apiPort: 0,
          record: false,
          mdns: false,
          deviceBackend: 'simulated',
          recordingsDir: scratch.dir,
        },
      });
      const daemon = new RearviewDaemon(config, { services: [slow] });
      const starting = daemon.start();
      await waitFor(() => releaseStart !== undefined, 'the slow service to be starting');
      const closing = daemon.close();
      // Let close() run as far as it can before the start finishes.
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
      releaseStart?.();
      await closing;
      await assert.rejects(starting, /closed while starting/);
      assert.deepEqual(events, ['started', 'closed']);
    } finally {
      scratch.cleanup();
    }
  });

  it('applyConfig racing close() starts no source, and after close() it is a no-op', async () => {
    let created = 0;
    const counting = (config: RearviewConfig, logger: Logger): ReturnType<typeof createSource> => {
      created++;
      return createSource(config, logger);
    };
    const d = await startDaemonInProcess({}, { createSource: counting });
    await waitFor(() => d.daemon.hub.stats().frames > 0, 'frames from the sample');
    const before = created;
    const applying = d.daemon.applyConfig(d.daemon.config, true);
    const closing = d.close();
    await Promise.all([applying, closing]);
    assert.equal(created, before, 'no source created after close()');
    await d.daemon.applyConfig(d.daemon.config, true);
    assert.equal(created, before);
    assert.equal(d.daemon.sourceSupervisor.state, 'closed');
  });

  it('applyConfig restarts the source while running', async () => {
    let created = 0;
    const d = await startDaemonInProcess(
      {},
      {
        createSource: (c, l) => {
          created++;
          return createSource(c, l);
        },
      },
    );
    try {
      await waitFor(() => created >= 1, 'first source');
      const before = created;
      await d.daemon.applyConfig(d.daemon.config, true);
      await waitFor(() => created > before, 'a new source after the restart');
    } finally {
      await d.close();
    }
  });
});
