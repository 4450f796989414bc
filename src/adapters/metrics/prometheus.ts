/**
 * Prometheus metrics through prom-client, when the host passes its registry:
 * `createRecorder({ metrics: prometheusMetrics({ registry }) })`. prom-client is loaded only then.
 */
import { createRequire } from 'node:module';
import type { RecorderMetrics } from '../../core/metrics.js';
import { WebRecordError } from '../../core/errors.js';
import { TaskStatuses } from '../../core/types.js';

export interface PrometheusMetricsOptions {
  /** The host's prom-client `Registry` (e.g. `client.register`). */
  registry: unknown;
  /** Metric name prefix. Default `web_record_`. */
  prefix?: string;
}

type PromClient = typeof import('prom-client');

function loadPromClient(): PromClient {
  try {
    return createRequire(import.meta.url)('prom-client') as PromClient;
  } catch (err) {
    throw new WebRecordError('InvalidParam', 'metrics need prom-client: npm install prom-client', { cause: err });
  }
}

/**
 * Registers: `tasks{status}`, `recordings_in_flight`, `recorded_seconds_total`,
 * `effective_fps` (histogram), `capture_stalls_total`, `upload_failures_total`,
 * `callback_failures_total`, `stage_duration_seconds{stage}`.
 */
export function prometheusMetrics(options: PrometheusMetricsOptions): RecorderMetrics {
  if (!options || typeof (options.registry as { registerMetric?: unknown })?.registerMetric !== 'function') {
    throw new WebRecordError('InvalidParam', 'prometheusMetrics: option registry must be a prom-client Registry');
  }
  const client = loadPromClient();
  const p = options.prefix ?? 'web_record_';
  const registers = [options.registry as InstanceType<PromClient['Registry']>];
  let source: Parameters<NonNullable<RecorderMetrics['bind']>>[0] | undefined;

  new client.Gauge({
    name: `${p}tasks`,
    help: 'Tasks in the store by status',
    labelNames: ['status'],
    registers,
    async collect() {
      if (!source) return;
      const counts = await source.countByStatus().catch(() => ({}) as Record<string, number>);
      for (const status of TaskStatuses) this.set({ status }, (counts as Record<string, number>)[status] ?? 0);
    },
  });
  new client.Gauge({
    name: `${p}recordings_in_flight`,
    help: 'Recordings running on this node',
    registers,
    collect() {
      this.set(source?.inFlight() ?? 0);
    },
  });
  const recorded = new client.Counter({ name: `${p}recorded_seconds_total`, help: 'Seconds recorded (pauses excluded) by finished tasks', registers });
  const fps = new client.Histogram({
    name: `${p}effective_fps`,
    help: 'Frames per second the encoder received, sampled every few seconds per recording',
    buckets: [5, 10, 15, 20, 24, 26, 28, 29, 29.5, 30, 45, 60],
    registers,
  });
  const stalls = new client.Counter({ name: `${p}capture_stalls_total`, help: 'Moments the encoder had no new frame for over 100 ms', registers });
  const uploadFailures = new client.Counter({ name: `${p}upload_failures_total`, help: 'Uploads that failed after all retries', registers });
  const callbackFailures = new client.Counter({ name: `${p}callback_failures_total`, help: 'Callbacks that failed after all retries', registers });
  const stages = new client.Histogram({
    name: `${p}stage_duration_seconds`,
    help: 'Duration of the stages after capture',
    labelNames: ['stage'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers,
  });

  return {
    bind(s) {
      source = s;
    },
    stage(stage, ms) {
      stages.observe({ stage }, ms / 1000);
    },
    failure(kind) {
      (kind === 'upload' ? uploadFailures : callbackFailures).inc();
    },
    capture(_taskId, stats, newStalls) {
      if (stats.fps > 0) fps.observe(stats.fps);
      if (newStalls > 0) stalls.inc(newStalls);
    },
    finished(task) {
      if (task.recordedMs) recorded.inc(task.recordedMs / 1000);
    },
  };
}
