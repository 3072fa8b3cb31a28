/**
 * Tells failures that go away by waiting (a database or broker unreachable, a deadlock) from
 * failures that a record causes every time. A consumer retries the first kind forever and never
 * skips anything for it; only the second kind may end with a record dead-lettered.
 */

/** Socket and DNS errors of an unreachable or restarting peer. */
const TRANSIENT_SYSCALL_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * PostgreSQL SQLSTATEs: 08 connection exceptions, 53 insufficient resources (too many connections,
 * disk full, out of memory: waiting is right, dropping data is not), 57P01-03 server shutting down
 * or starting, 57014 statement timeout, 55P03 lock not available, 58 system I/O errors,
 * 40001/40P01 serialization failure and deadlock.
 */
const TRANSIENT_SQLSTATE = /^(08...|53...|57P0[123]|57014|55P03|58...|40001|40P01)$/;

/** Prisma: cannot reach / timed out / connection closed / pool timeout / write conflict or deadlock. */
const TRANSIENT_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2034']);

/** Kinds of Prisma driver-adapter errors (@prisma/adapter-pg) that mean the same. */
const TRANSIENT_ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionWriteConflict']);

/** kafkajs errors of the connection rather than the request (some are flagged retriable=false). */
const TRANSIENT_ERROR_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSNumberOfRetriesExceeded',
  'TimeoutError',
]);

/** node-postgres reports a lost connection with these messages and no code. */
const TRANSIENT_MESSAGE = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection refused|socket hang up/i;

interface ErrorFields {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly originalCode?: unknown;
  readonly kind?: unknown;
  readonly retriable?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
  readonly originalError?: unknown;
  readonly errors?: unknown;
  readonly meta?: { readonly driverAdapterError?: unknown } | null;
}

function isTransientOne(error: ErrorFields): boolean {
  for (const code of [error.code, error.originalCode]) {
    if (typeof code !== 'string') continue;
    if (TRANSIENT_SYSCALL_CODES.has(code) || TRANSIENT_PRISMA_CODES.has(code) || TRANSIENT_SQLSTATE.test(code)) return true;
  }
  if (typeof error.kind === 'string' && TRANSIENT_ADAPTER_KINDS.has(error.kind)) return true;
  if (typeof error.name === 'string' && TRANSIENT_ERROR_NAMES.has(error.name)) return true;
  // kafkajs marks broker answers such as LEADER_NOT_AVAILABLE or NOT_COORDINATOR retriable.
  if (typeof error.name === 'string' && error.name.startsWith('KafkaJS') && error.retriable === true) return true;
  return typeof error.message === 'string' && TRANSIENT_MESSAGE.test(error.message);
}

/** True when `error`, or anything it wraps, says the failure is worth waiting out. */
export function isTransientError(error: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  // Wrappers nest the real cause: Error.cause, kafkajs originalError, AggregateError (pg connecting
  // to several addresses), Prisma's meta.driverAdapterError.
  while (queue.length > 0 && seen.size < 20) {
    const current = queue.shift();
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const fields = current as ErrorFields;
    if (isTransientOne(fields)) return true;
    queue.push(fields.cause, fields.originalError, fields.meta?.driverAdapterError);
    if (Array.isArray(fields.errors)) queue.push(...(fields.errors as unknown[]));
  }
  return false;
}
