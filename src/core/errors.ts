/**
 * One error class with a stable string code, as the seed's API answers them.
 *
 * Request codes answer an Action (`ErrorCode` at the top of the response); task codes end a task
 * (`Result.ErrorCode` in Describe).
 */

/** Codes an Action request can be answered with. */
export const RequestErrorCodes = [
  'InvalidParam',
  'InvalidStatus',
  'AuthFailed',
  'ResourceExhausted',
  'WorkerUnavailable',
  'InternalError',
] as const;

/** Codes a finished task can carry in `Result.ErrorCode`. */
export const TaskErrorCodes = [
  'PageLoadFailed',
  'StartRecordTimeout',
  'RecordFailed',
  'RecordInterrupted',
  'TranscodeFailed',
  'UploadFailed',
  'CallbackFailed',
  'InternalError',
] as const;

export type RequestErrorCode = (typeof RequestErrorCodes)[number];
export type TaskErrorCode = (typeof TaskErrorCodes)[number];
export type ErrorCode = RequestErrorCode | TaskErrorCode;

/** The one error type web-record throws. `code` is stable; `message` is for people. */
export class WebRecordError extends Error {
  override readonly name = 'WebRecordError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** HTTP status for a request error code; everything else answers 200 with the JSON body, as the original. */
export function httpStatusFor(code: ErrorCode): number {
  return code === 'AuthFailed' ? 401 : 200;
}

/** Turns anything thrown into a WebRecordError, keeping the original as `cause`. */
export function toWebRecordError(err: unknown, fallback: ErrorCode = 'InternalError'): WebRecordError {
  if (err instanceof WebRecordError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WebRecordError(fallback, message || fallback, { cause: err });
}

/** Shorthand for the most common error: a bad or missing field. */
export function invalidParam(message: string): WebRecordError {
  return new WebRecordError('InvalidParam', message);
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return (
    typeof value === 'string' &&
    ((RequestErrorCodes as readonly string[]).includes(value) || (TaskErrorCodes as readonly string[]).includes(value))
  );
}
