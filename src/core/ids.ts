import { randomBytes, randomUUID } from 'node:crypto';

/** A task id: UUID v4. */
export const newTaskId = (): string => randomUUID();

/** A request id: 32 lowercase hex characters. */
export const newRequestId = (): string => randomBytes(16).toString('hex');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const looksLikeTaskId = (id: string): boolean => UUID.test(id);
