/**
 * web-record: record any web page into a real video, from your Node backend.
 *
 * The main entry imports no web framework and no vendor SDK; adapters are subpath exports
 * (`web-record/express`, `web-record/koa`, `web-record/storage/cos`, ...).
 */
export { createRecorder, type RecorderOptions, type WarmPoolOptions } from './create-recorder.js';
export {
  Recorder,
  toSeedData,
  type HealthCheck,
  type HealthReport,
  type RecorderEvents,
  type RecordingTask,
  type RequestContext,
  type StartOptions,
  type TaskInfo,
} from './core/recorder.js';
export { executeAction, errorBody, type ActionAnswer } from './core/actions.js';
export {
  WebRecordError,
  toWebRecordError,
  httpStatusFor,
  RequestErrorCodes,
  TaskErrorCodes,
  type ErrorCode,
  type RequestErrorCode,
  type TaskErrorCode,
} from './core/errors.js';
export {
  TaskStatuses,
  type CaptureMode,
  type CosOutput,
  type DescribeResponse,
  type Muxer,
  type TaskParams,
  type TaskPatch,
  type TaskRecord,
  type TaskResult,
  type TaskStatus,
  type VideoFile,
  type VideoOutput,
} from './core/types.js';
export { ALLOWED_FROM, canTransition, decide, type ControlAction, type Decision } from './core/state-machine.js';
export { Actions, Limits, describeTask, parseActionRequest, parseStart, type ActionName, type ActionRequest } from './core/protocol.js';
export { classifyAddress, createUrlPolicy, type CheckedUrl, type UrlPolicy, type UrlPolicyOptions } from './core/url-policy.js';
export { deliverCallback, signCallback, verifyCallback, type CallbackOptions, type VerifyCallbackOptions } from './core/callback.js';
export type { TaskStore, TaskStoreCapabilities, TaskQuery, WriteCondition, WriteResult } from './core/task-store.js';
export type { Storage, StorageCapabilities, StorageTarget, PutOptions, StoredObject } from './core/storage.js';
export type {
  BrowserDriver,
  BrowserDriverCapabilities,
  BrowserExit,
  BrowserLaunchOptions,
  BrowserSession,
  PresentedFrame,
  ScreencastFrame,
} from './core/browser.js';
export type {
  BrowserRequirements,
  CaptureDriver,
  CaptureOpenOptions,
  CaptureProbe,
  CaptureSession,
  CaptureStartOptions,
  CaptureStats,
  FinalizeOptions,
  OutputFile,
} from './core/capture.js';
export type { TaskQueue, QueueCapabilities, JobHandler } from './core/queue.js';
export type { Bus, ControlCommand, ControlReply, TaskEvent } from './core/bus.js';
export { silentLogger, type Logger } from './core/logger.js';
export { memoryStore, type MemoryStoreOptions } from './adapters/store/memory.js';
export { memoryQueue } from './adapters/queue/memory.js';
export { memoryBus } from './adapters/bus/memory.js';
export { diskStorage, type DiskStorageOptions } from './storage/disk.js';
export { chromiumBrowser, type ChromiumBrowserOptions } from './adapters/browser/chromium.js';
export { egressProxy } from './adapters/browser/egress-proxy.js';
export type { EgressGuard, EgressRefusal, EgressSession } from './core/egress.js';
export { ffmpegCapture, type FfmpegCaptureOptions } from './adapters/capture/index.js';
export { createHttpHandler, type AuthorizeHook, type AuthorizeResult, type HandlerOptions, type HttpRequest, type HttpResponse } from './http/handler.js';
export { createNodeServer, type NodeServer } from './http/node.js';
export type { WebRecordOptions } from './http/middleware.js';
export type { DashboardOptions } from './http/dashboard.js';
export { hmacAuth, memoryReplayStore, type HmacAuthOptions, type HmacKey, type ReplayStore } from './http/auth.js';
export { signRequest, type SignRequestOptions } from './http/sign.js';
export { prometheusMetrics, type PrometheusMetricsOptions } from './adapters/metrics/prometheus.js';
export type { RecorderMetrics } from './core/metrics.js';
export type { TaskProgress } from './core/context.js';
