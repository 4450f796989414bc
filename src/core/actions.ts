/**
 * The seed's Action endpoint without HTTP: a parsed JSON body in, the answer body out.
 */
import { toWebRecordError, WebRecordError, type ErrorCode } from './errors.js';
import { newRequestId } from './ids.js';
import { describeTask, isPlainObject, parseActionRequest, parseList, parseTaskId, type ActionRequest } from './protocol.js';
import type { Recorder, RequestContext } from './recorder.js';

export interface ActionAnswer {
  /** The JSON body to send. */
  body: Record<string, unknown>;
  /** Set when the answer is an error. */
  error?: WebRecordError;
}

type Json = Record<string, unknown>;

async function run(recorder: Recorder, req: ActionRequest, ctx: RequestContext): Promise<Json> {
  const { data } = req;
  switch (req.action) {
    case 'Start': {
      const task = await recorder.create(data, ctx);
      return { TaskID: task.taskId };
    }
    case 'Describe': {
      const task = await recorder.get(parseTaskId(data), ctx);
      return { ...describeTask(task, ctx.baseURL) };
    }
    case 'List': {
      const { total, tasks } = await recorder.list(parseList(data, recorder.ctx.options.listUtcOffsetMinutes), ctx);
      return { Total: total, Tasks: tasks.map((t) => describeTask(t, ctx.baseURL)) };
    }
    default: {
      const action = req.action === 'Cancel' ? 'Stop' : req.action;
      const task = await recorder.control(parseTaskId(data), action, ctx);
      return { TaskID: task.taskId };
    }
  }
}

/**
 * Answers one Action request body. Never throws: every failure becomes `{ ErrorCode, ErrorMessage }`.
 * Every answer carries a fresh `RequestID`; the cloud envelope is answered as `{ Response }`.
 */
export async function executeAction(recorder: Recorder, body: unknown, ctx: RequestContext = {}): Promise<ActionAnswer> {
  const requestId = newRequestId();
  let req: ActionRequest | undefined;
  try {
    req = parseActionRequest(body);
    const out = await run(recorder, req, ctx);
    return { body: wrap(req, { ...out, RequestID: requestId }) };
  } catch (err) {
    const error = toWebRecordError(err);
    if (error.code === 'InternalError') recorder.ctx.logger.error({ err: error, requestId }, 'action failed');
    // An unexpected error's own message (a Redis address, a file path) stays in the log.
    const message = err instanceof WebRecordError ? error.message : `internal error (RequestID ${requestId} in the server log)`;
    return { body: errorBody(error.code, message, requestId, req ?? envelopeOf(body)), error };
  }
}

/** An error answer in the seed's shape. */
export function errorBody(code: ErrorCode, message: string, requestId = newRequestId(), req?: ActionRequest): Json {
  return wrap(req, { ErrorCode: code, ErrorMessage: message, RequestID: requestId });
}

/** The envelope of a body that failed to parse, so even its error is answered in kind. */
function envelopeOf(body: unknown): ActionRequest | undefined {
  if (!isPlainObject(body) || !Object.prototype.hasOwnProperty.call(body, 'RecordAction')) return undefined;
  const rid = body.RequestId;
  return { action: 'Describe', data: {}, envelope: 'cloud', ...(typeof rid === 'string' && rid.length <= 128 ? { clientRequestId: rid } : {}) };
}

function wrap(req: ActionRequest | undefined, body: Json): Json {
  if (req?.envelope !== 'cloud') return body;
  return { Response: req.clientRequestId ? { ...body, RequestId: req.clientRequestId } : body };
}
