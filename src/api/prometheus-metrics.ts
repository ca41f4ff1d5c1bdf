/** `GET /metrics`: the status in Prometheus text exposition format (version 0.0.4). */
import { getHeapSpaceStatistics } from 'node:v8';
import type { EventLoopDelayHistogram } from '../util/event-loop-delay.js';
import type { StatusDocument } from './status-document.js';

/** Content type of the exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Renders the metrics; `requests` counts HTTP answers by "route status". */
export function renderMetrics(
  status: StatusDocument,
  requests: ReadonlyMap<string, number>,
  downloadsRefused: number,
  eventLoopDelay?: EventLoopDelayHistogram,
): string {
  const lines: string[] = [];
  const metric = (
    name: string,
    type: 'gauge' | 'counter',
    help: string,
    samples: Array<[Record<string, string>, number | null]>,
  ): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      if (value === null || !Number.isFinite(value)) continue;
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${value}`);
    }
  };
  metric('rearview_info', 'gauge', 'Version and mode (always 1).', [
    [{ version: status.version, mode: status.mode, activity: status.activity }, 1],
  ]);
  metric('rearview_uptime_seconds', 'gauge', 'Seconds since the daemon started.', [[{}, status.uptimeMs / 1000]]);
  metric('rearview_source_running', 'gauge', '1 while the capture source delivers frames.', [
    [{ source: status.stream.source }, status.stream.running ? 1 : 0],
  ]);
  metric('rearview_stream_serving', 'gauge', '1 while port 5000 serves the stream.', [
    [{}, status.stream.serving ? 1 : 0],
  ]);
  metric('rearview_frames_published_total', 'counter', 'Access units published by the hub.', [
    [{}, status.stream.framesPublished],
  ]);
  metric('rearview_stream_fps', 'gauge', 'Nominal frame rate.', [[{}, status.stream.fps]]);
  metric('rearview_stream_bitrate_bps', 'gauge', 'Configured bitrate, bits per second.', [
    [{}, status.stream.bitrateBps],
  ]);
  metric('rearview_stream_measured_bitrate_bps', 'gauge', 'Measured bitrate, bits per second.', [
    [{}, status.stream.measuredBitrateBps],
  ]);
  const kinds = ['tcp', 'ws', 'webrtc'] as const;
  metric(
    'rearview_stream_clients',
    'gauge',
    'Connected live-stream clients (webrtc: WHEP sessions, connecting ones included).',
    kinds.map((kind) => [{ kind }, status.stream.clients.filter((c) => c.kind === kind).length]),
  );
  // Labelled by kind only: an ip:port label made a new series per connection (unbounded cardinality).
  const byKind = (
    pick: (c: StatusDocument['stream']['clients'][number]) => number,
    fold: (a: number, b: number) => number,
  ): Array<[Record<string, string>, number]> =>
    kinds.map((kind) => [
      { kind },
      status.stream.clients
        .filter((c) => c.kind === kind)
        .map(pick)
        .reduce(fold, 0),
    ]);
  metric(
    'rearview_stream_client_lag_ms',
    'gauge',
    'Largest age of the oldest unsent frame among connected clients of a kind, ms.',
    byKind((c) => c.lagMs, Math.max),
  );
  metric(
    'rearview_stream_client_dropped_frames',
    'gauge',
    'Frames skipped for slow clients, summed over the connected clients of a kind.',
    byKind(
      (c) => c.framesDropped,
      (a, b) => a + b,
    ),
  );
  metric(
    'rearview_stream_client_sent_bytes',
    'gauge',
    'Bytes of video sent, summed over the connected clients of a kind.',
    byKind(
      (c) => c.bytesSent,
      (a, b) => a + b,
    ),
  );
  const webrtc = status.stream.webrtc;
  if (webrtc) {
    metric('rearview_webrtc_sessions_total', 'counter', 'WebRTC (WHEP) sessions answered.', [[{}, webrtc.sessions]]);
    metric(
      'rearview_webrtc_refused_total',
      'counter',
      'WebRTC offers refused, by reason (offer, full, rate, unavailable).',
      Object.entries(webrtc.refused).map(([reason, n]): [Record<string, string>, number] => [{ reason }, n]),
    );
    metric(
      'rearview_webrtc_keyframe_requests_total',
      'counter',
      'Picture loss indications and full intra requests from WebRTC viewers.',
      [[{}, webrtc.keyframeRequests]],
    );
    metric(
      'rearview_webrtc_keyframes_resent_total',
      'counter',
      'Keyframe requests answered by sending the cached GOP again.',
      [[{}, webrtc.keyframesResent]],
    );
    metric(
      'rearview_webrtc_skips_total',
      'counter',
      'Times a WebRTC viewer could not keep up and was skipped to keyframes.',
      [[{}, webrtc.skips]],
    );
    // Per viewer, labelled by its place in the pool (at most webrtcMaxViewers series, never an address).
    const viewers = status.stream.clients.filter((c) => c.kind === 'webrtc' && c.slot !== undefined);
    const bySlot = (pick: (c: (typeof viewers)[number]) => number | null | undefined) =>
      viewers.map((c): [Record<string, string>, number | null] => [{ slot: String(c.slot) }, pick(c) ?? null]);
    metric(
      'rearview_webrtc_viewer_lag_ms',
      'gauge',
      "A WebRTC viewer's estimated lag (its receiver reports), ms, by slot.",
      bySlot((c) => c.lagMs),
    );
    metric(
      'rearview_webrtc_viewer_dropped_frames',
      'gauge',
      'Frames not sent to a WebRTC viewer (its join, and while it was behind), by slot.',
      bySlot((c) => c.framesDropped),
    );
    metric(
      'rearview_webrtc_viewer_skips',
      'gauge',
      'Times a WebRTC viewer was skipped to keyframes, by slot.',
      bySlot((c) => c.skips),
    );
    metric(
      'rearview_webrtc_viewer_behind',
      'gauge',
      '1 while a WebRTC viewer is behind (keyframes only), by slot.',
      bySlot((c) => (c.behind ? 1 : 0)),
    );
    metric(
      'rearview_webrtc_viewer_rtt_ms',
      'gauge',
      "A WebRTC viewer's round-trip time, ms, by slot.",
      bySlot((c) => c.rttMs),
    );
    metric(
      'rearview_webrtc_viewer_info',
      'gauge',
      "A WebRTC viewer's state and route (candidate types local/remote, transport), always 1, by slot.",
      viewers.map((c): [Record<string, string>, number] => [
        {
          slot: String(c.slot),
          state: c.state ?? '',
          route: c.route ? `${c.route.local}/${c.route.remote}/${c.route.transport}` : '',
        },
        1,
      ]),
    );
  }
  const pools = (['tcp', 'ws', 'webrtc'] as const).flatMap((kind) => {
    const pool = status.stream.slots[kind];
    return pool ? [{ kind, pool }] : [];
  });
  metric(
    'rearview_stream_clients_refused_total',
    'counter',
    'Live-stream clients refused, by kind and reason (full, per-address, not-allowed, not-streaming, closing).',
    pools.flatMap(({ kind, pool }) =>
      Object.entries(pool.refused).map(([reason, n]): [Record<string, string>, number] => [{ kind, reason }, n]),
    ),
  );
  metric(
    'rearview_stream_clients_evicted_total',
    'counter',
    'Live-stream clients that gave way to a new one while all slots were taken, by kind.',
    pools.map(({ kind, pool }) => [{ kind }, pool.evicted]),
  );
  metric(
    'rearview_stream_clients_dropped_behind_total',
    'counter',
    'Live-stream clients dropped for being behind too long in the 30 s window, by kind.',
    pools.map(({ kind, pool }) => [{ kind }, pool.droppedBehind]),
  );
  // Publishing targets: labelled by their position and scheme (bounded by the config), never by URL (credentials).
  const publishers = status.publish ?? [];
  const byPublisher = (
    pick: (p: StatusDocument['publish'][number]) => number,
  ): Array<[Record<string, string>, number]> =>
    publishers.map((p) => [{ publisher: String(p.index), scheme: p.scheme, profile: p.profile }, pick(p)]);
  metric(
    'rearview_publish_up',
    'gauge',
    '1 while the target takes the stream (state publishing), by position in the publish list.',
    byPublisher((p) => (p.state === 'publishing' ? 1 : 0)),
  );
  metric(
    'rearview_publish_frames_total',
    'counter',
    'Frames handed to the publishing process.',
    byPublisher((p) => p.frames),
  );
  metric(
    'rearview_publish_bytes_total',
    'counter',
    'Bytes handed to the publishing process.',
    byPublisher((p) => p.bytes),
  );
  metric(
    'rearview_publish_dropped_frames_total',
    'counter',
    'Frames skipped because the server took the stream too slowly.',
    byPublisher((p) => p.framesDropped),
  );
  metric(
    'rearview_publish_reconnects_total',
    'counter',
    'Publishing sessions started after the first.',
    byPublisher((p) => p.reconnects),
  );
  metric('rearview_recording_active', 'gauge', '1 while segments are being written.', [
    [{}, status.recording.active ? 1 : 0],
  ]);
  const up = status.upload;
  if (up) {
    metric('rearview_upload_queue_segments', 'gauge', 'Segments waiting to be uploaded.', [[{}, up.queueLength]]);
    metric('rearview_upload_queue_bytes', 'gauge', 'Bytes of the segments waiting to be uploaded.', [
      [{}, up.queueBytes],
    ]);
    metric('rearview_upload_uploaded_total', 'counter', 'Segments uploaded since start.', [[{}, up.uploaded]]);
    metric('rearview_upload_uploaded_bytes_total', 'counter', 'Bytes of segments uploaded since start.', [
      [{}, up.uploadedBytes],
    ]);
    metric(
      'rearview_upload_verified_total',
      'counter',
      "Uploads verified against the server's SHA-256 checksum or MD5 ETag.",
      [[{}, up.verified]],
    );
    metric('rearview_upload_failures_total', 'counter', 'Failed upload attempts since start.', [[{}, up.failures]]);
    metric(
      'rearview_upload_not_uploaded_total',
      'counter',
      'Segments that left the queue without an upload, by reason (queue-full, deleted).',
      [
        [{ reason: 'queue-full' }, up.droppedQueueFull],
        [{ reason: 'deleted' }, up.deletedBeforeUpload],
      ],
    );
    metric('rearview_upload_state', 'gauge', '1 for the state the uploader is in.', [[{ state: up.state }, 1]]);
    metric('rearview_upload_last_error_timestamp_seconds', 'gauge', 'When the last upload error happened.', [
      [{}, up.lastError ? up.lastError.atMs / 1000 : null],
    ]);
  }
  metric('rearview_recordings', 'gauge', 'Segments in the recordings folder.', [[{}, status.disk?.files ?? null]]);
  metric('rearview_recordings_bytes', 'gauge', 'Bytes used by recordings.', [[{}, status.disk?.usedBytes ?? null]]);
  metric('rearview_disk_free_bytes', 'gauge', 'Free bytes on the recordings filesystem.', [
    [{}, status.disk?.freeBytes ?? null],
  ]);
  metric('rearview_battery_percent', 'gauge', 'Battery state of charge, percent.', [[{}, status.battery.percent]]);
  metric('rearview_battery_millivolts', 'gauge', 'Battery cell voltage, mV.', [[{}, status.battery.millivolts]]);
  metric('rearview_charging', 'gauge', '1 while charging.', [
    [{}, status.battery.charging === null ? null : status.battery.charging ? 1 : 0],
  ]);
  metric('rearview_cpu_temperature_celsius', 'gauge', 'CPU temperature.', [[{}, status.temperatureC]]);
  metric(
    'rearview_device_simulated',
    'gauge',
    '1 for each simulated hardware part.',
    Object.entries(status.simulated).map(([part, sim]) => [{ part }, sim ? 1 : 0]),
  );
  metric('rearview_downloads_active', 'gauge', 'Recording downloads in progress.', [[{}, status.downloads.active]]);
  metric('rearview_downloads_refused_total', 'counter', 'Downloads refused (429) over the concurrency cap.', [
    [{}, downloadsRefused],
  ]);
  metric(
    'rearview_http_requests_total',
    'counter',
    'HTTP answers by route and status.',
    [...requests].map(([key, n]) => {
      const [route = '', code = ''] = key.split(' ');
      return [{ route, code }, n];
    }),
  );
  const memory = process.memoryUsage();
  metric('rearview_resident_memory_bytes', 'gauge', "The daemon process's resident memory (RSS), bytes.", [
    [{}, memory.rss],
  ]);
  // Where the RSS goes: the main isolate's V8 heap, and memory outside it (Buffers, ArrayBuffers).
  metric('rearview_heap_bytes', 'gauge', "The main thread's V8 heap, bytes: used and reserved (total).", [
    [{ kind: 'used' }, memory.heapUsed],
    [{ kind: 'total' }, memory.heapTotal],
  ]);
  // Per space, as prom-client's nodejs_heap_space_*: a grown new space shows here (young-generation.ts).
  metric(
    'rearview_heap_space_bytes',
    'gauge',
    "The main thread's V8 heap by space, bytes: used and reserved (size).",
    getHeapSpaceStatistics().flatMap(
      (sp): Array<[Record<string, string>, number]> => [
        [{ space: sp.space_name, kind: 'used' }, sp.space_used_size],
        [{ space: sp.space_name, kind: 'size' }, sp.space_size],
      ],
    ),
  );
  metric('rearview_external_memory_bytes', 'gauge', 'Memory held outside the V8 heap by JS objects, bytes.', [
    [{ kind: 'external' }, memory.external],
    [{ kind: 'array_buffers' }, memory.arrayBuffers],
  ]);
  if (eventLoopDelay) {
    const name = 'rearview_event_loop_delay_seconds';
    lines.push(
      `# HELP ${name} How late the event loop ran (every live frame waits as long), sampled every 20 ms.`,
      `# TYPE ${name} histogram`,
    );
    for (const [le, n] of eventLoopDelay.buckets)
      lines.push(`${name}_bucket{le="${Number.isFinite(le) ? String(le) : '+Inf'}"} ${n}`);
    lines.push(`${name}_sum ${eventLoopDelay.sumSeconds}`, `${name}_count ${eventLoopDelay.count}`);
  }
  return `${lines.join('\n')}\n`;
}
