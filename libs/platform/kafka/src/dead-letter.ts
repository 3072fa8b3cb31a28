import { OutgoingMessage, ReceivedMessage } from './message-bus';

/** Headers a dead letter carries besides the original record's own. */
export const DeadLetterHeaders = {
  topic: 'dead-letter.topic',
  partition: 'dead-letter.partition',
  offset: 'dead-letter.offset',
  group: 'dead-letter.group',
  error: 'dead-letter.error',
  /** ISO 8601 time the consumer gave up on the record. */
  failedAt: 'dead-letter.failed-at',
} as const;

/** A record a consumer skipped after copying it to the dead-letter topic (for logs and metrics). */
export interface DeadLetteredRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly group: string;
  readonly reason: string;
}

/** Long reasons (stack-like validation reports) are cut: headers travel with every fetch. */
const MAX_REASON_CHARS = 2_000;

export function errorReason(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text;
}

/** The dead letter of `message`: same key and value, so it can be replayed as it was. */
export function deadLetterMessage(message: ReceivedMessage, group: string, reason: string, failedAt = new Date()): OutgoingMessage {
  return {
    key: message.key,
    value: message.value,
    headers: {
      ...message.headers,
      [DeadLetterHeaders.topic]: message.topic,
      [DeadLetterHeaders.partition]: String(message.partition),
      [DeadLetterHeaders.offset]: message.offset,
      [DeadLetterHeaders.group]: group,
      [DeadLetterHeaders.error]: reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason,
      [DeadLetterHeaders.failedAt]: failedAt.toISOString(),
    },
  };
}

export function deadLetteredRecord(message: ReceivedMessage, group: string, reason: string): DeadLetteredRecord {
  return { topic: message.topic, partition: message.partition, offset: message.offset, group, reason };
}
