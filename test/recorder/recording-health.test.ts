/** recordingHealth(): one decision for status, page, CLI and LED, from the recorder, settings, mode and source. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordingHealth, sameHealth, type RecordingHealthInput } from '../../src/recorder/recording-health.js';

const base: RecordingHealthInput = {
  recorder: { state: 'recording', lastError: null, dir: '/rec' },
  recordEnabled: true,
  modeAllowsRecording: true,
  sourceState: 'running',
};

describe('recordingHealth', () => {
  it('recording, or starting at the first keyframe: no reason, no error', () => {
    assert.deepEqual(recordingHealth(base), { state: 'recording', reason: null, error: null, errorCode: null });
    const starting = recordingHealth({ ...base, recorder: { ...base.recorder!, state: 'waiting' } });
    assert.equal(starting.state, 'starting');
    assert.equal(starting.error, null);
  });

  it('a choice is off or paused, never an error', () => {
    const noRecord = recordingHealth({ ...base, recorder: undefined, recordEnabled: false });
    assert.equal(noRecord.state, 'off');
    assert.match(noRecord.reason ?? '', /--no-record/);
    assert.equal(noRecord.error, null);
    assert.equal(recordingHealth({ ...base, recordEnabled: false }).state, 'off');
    const paused = recordingHealth({
      ...base,
      modeAllowsRecording: false,
      recorder: { ...base.recorder!, state: 'paused' },
    });
    assert.equal(paused.state, 'paused');
    assert.match(paused.reason ?? '', /exclusive mode is streaming/);
    assert.equal(paused.error, null);
  });

  it('a write error is a failure in words with its code', () => {
    const full = recordingHealth({
      ...base,
      recorder: {
        state: 'retrying',
        dir: '/rec',
        lastError: { code: 'ENOSPC', message: 'writing log0003.mkv: no space left on device', atMs: 1 },
      },
    });
    assert.equal(full.state, 'failed');
    assert.equal(full.errorCode, 'ENOSPC');
    assert.match(full.error ?? '', /^the card is full \(ENOSPC\): writing log0003\.mkv/);
    assert.equal(full.reason, full.error);
  });

  it('no video from the source is a failure', () => {
    const down = recordingHealth({
      ...base,
      recorder: { ...base.recorder!, state: 'waiting' },
      sourceState: 'backoff',
      sourceError: { code: 'ERR_SOURCE_EXITED', message: 'rpicam-vid exited with code 1' },
    });
    assert.equal(down.state, 'failed');
    assert.equal(down.errorCode, 'ERR_SOURCE_EXITED');
    assert.match(down.error ?? '', /no video from the camera source: rpicam-vid exited/);
    assert.equal(recordingHealth({ ...base, sourceState: 'stopped' }).errorCode, 'ERR_SOURCE_DOWN');
  });

  it('sameHealth ignores a message that names another segment on each retry', () => {
    const a = recordingHealth({
      ...base,
      recorder: { state: 'retrying', dir: '/rec', lastError: { code: 'EIO', message: 'log0001.mkv', atMs: 1 } },
    });
    const b = recordingHealth({
      ...base,
      recorder: { state: 'retrying', dir: '/rec', lastError: { code: 'EIO', message: 'log0002.mkv', atMs: 2 } },
    });
    assert.ok(sameHealth(a, b));
    assert.ok(!sameHealth(a, recordingHealth(base)));
    assert.ok(!sameHealth(undefined, a));
  });
});
