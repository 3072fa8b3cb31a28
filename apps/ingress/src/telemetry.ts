import { toHex } from '@license-ledger/protocol-crypto';
import { licenseRequestFields, type LicenseRequest } from '@license-ledger/protocol-wire';
import { BatchingPublisher, type MessagePublisher } from '@license-ledger/platform-kafka';
import { encodeTelemetry, parseTelemetry, type TelemetryDecision } from '@license-ledger/metrics-usage';

export type { TelemetryDecision };

/** Who and when, beside the request. */
export interface TelemetryContext {
  readonly agreementId: string | null;
  readonly keyFingerprint: string;
  readonly receivedTimeNs: bigint;
  readonly decision: TelemetryDecision;
  readonly ingressInstance: string;
}

const camel = (snake: string): string => snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const fieldProperty = licenseRequestFields.map(([wire, kind]) => [wire, camel(wire) as keyof LicenseRequest, kind] as const);

/**
 * What the handler queues for one accepted request: the decoded request, the bytes it was decoded
 * from, and who/when, the latter also under their record (snake_case) names for logs and tests.
 * Encoded when queued.
 */
export type TelemetryEnvelope = {
  readonly agreement_id: string | null;
  readonly key_fingerprint: string;
  readonly received_time_utc: string;
  readonly decision: TelemetryDecision;
  readonly ingress_instance: string;
  readonly request: LicenseRequest;
  /** The LicenseRequest FlatBuffer as the gateway sealed it (OpenedRequest.requestBytes). */
  readonly requestBytes: Uint8Array;
  readonly context: TelemetryContext;
};

export function telemetryEnvelope(request: LicenseRequest, context: TelemetryContext, requestBytes: Uint8Array): TelemetryEnvelope {
  return {
    agreement_id: context.agreementId,
    key_fingerprint: context.keyFingerprint,
    received_time_utc: context.receivedTimeNs.toString(),
    decision: context.decision,
    ingress_instance: context.ingressInstance,
    request,
    requestBytes,
    context,
  };
}

/**
 * The record published for an envelope: a version 3 telemetry record (libs/protocol/wire/schema/
 * telemetry.fbs, docs/telemetry.md) holding the request's bytes as the gateway sealed them (the
 * protocol's decoder has verified them; nothing is encoded again).
 */
export function encodeTelemetryEnvelope(envelope: TelemetryEnvelope): Buffer {
  const { context } = envelope;
  return encodeTelemetry(
    { agreement_id: context.agreementId, key_fingerprint: context.keyFingerprint, received_time_utc: context.receivedTimeNs, decision: context.decision, ingress_instance: context.ingressInstance },
    envelope.requestBytes,
  );
}

/**
 * REMOVE AFTER 2026-12-08, with the metrics library's legacy reader (docs/telemetry.md): one accepted
 * request's telemetry as a version-1 JSON object, no longer published; the reference rendering the
 * tests check the legacy reader against. Every LicenseRequest field under its
 * wire (snake_case) name — 64-bit integers as decimal strings, byte vectors as lowercase hex, uint32
 * vectors as arrays of numbers — plus who and when: schema version, agreement id, key fingerprint,
 * received time, the ledger's decision and the ingress instance.
 */
export function telemetryRecord(request: LicenseRequest, context: TelemetryContext): Record<string, unknown> {
  const record: Record<string, unknown> = {
    schema: 'license-ledger/telemetry/v1',
    agreement_id: context.agreementId,
    key_fingerprint: context.keyFingerprint,
    received_time_utc: context.receivedTimeNs.toString(),
    decision: context.decision,
    ingress_instance: context.ingressInstance,
  };
  for (const [wire, property, kind] of fieldProperty) {
    const value = request[property];
    switch (kind) {
      case 'i64':
      case 'u64':
        record[wire] = (value as bigint).toString();
        break;
      case 'bytes':
        record[wire] = toHex(value as Uint8Array);
        break;
      case 'u32s':
        record[wire] = [...(value as readonly number[])];
        break;
      default:
        record[wire] = value;
    }
  }
  return record;
}

export interface TelemetryPublisherOptions {
  readonly bus: MessagePublisher;
  readonly topic: string;
  /** Records waiting beyond this are dropped (and counted): telemetry must never hold up licensing. */
  readonly maxQueued?: number;
  readonly onError?: (error: unknown, dropped: number) => void;
  /** A record the metrics sink would refuse (a uint64 beyond 2^63-1, say): not published. */
  readonly onUnstorable?: (reason: string, envelope: TelemetryEnvelope) => void;
}

/**
 * Queues telemetry and publishes it in batches off the request path: enqueue() returns at once; one
 * publish is in flight at a time and takes everything queued meanwhile.
 */
export class TelemetryPublisher {
  private readonly batches: BatchingPublisher;
  published = 0;
  dropped = 0;

  constructor(private readonly options: TelemetryPublisherOptions) {
    this.batches = new BatchingPublisher(options.bus, options.topic, (messages, error) => {
      if (error === undefined) {
        this.published += messages;
      } else {
        this.dropped += messages;
        options.onError?.(error, messages);
      }
    });
  }

  /**
   * Encodes now (the queue holds compact buffers, not requests) and publishes later. The record is
   * checked with the sink's own parser first: what it would refuse is dropped here, where the
   * gateway that sent it is known, rather than published to be refused there.
   */
  enqueue(key: string | null, envelope: TelemetryEnvelope): void {
    if (this.batches.queued >= (this.options.maxQueued ?? 50_000)) {
      this.dropped += 1;
      return;
    }
    const value = encodeTelemetryEnvelope(envelope);
    const parsed = parseTelemetry(value);
    if (!parsed.ok) {
      this.dropped += 1;
      this.options.onUnstorable?.(parsed.error, envelope);
      return;
    }
    this.batches.enqueue({ key, value });
  }

  /** Publishes what is queued (and what queues up meanwhile) until the queue is empty. */
  flush(): Promise<void> {
    return this.batches.flush();
  }
}
