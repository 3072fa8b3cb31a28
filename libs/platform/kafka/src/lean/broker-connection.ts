import { connect, Socket } from 'node:net';

/** The connection failed or was closed: whatever was in flight on it may be asked again elsewhere. */
export class BrokerConnectionError extends Error {
  override readonly name = 'BrokerConnectionError';
}

interface InFlight {
  readonly resolve: (body: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * One TCP connection to a broker: size-prefixed frames, correlation ids, any number of requests in
 * flight (the broker answers them in order). Requests use header v1 and answers header v0, i.e.
 * only non-flexible versions (and ApiVersions, whose answer header is always v0).
 */
export class BrokerConnection {
  private readonly socket: Socket;
  private readonly ready: Promise<void>;
  private readonly inFlight = new Map<number, InFlight>();
  private nextCorrelationId = 1;
  private failure: BrokerConnectionError | undefined;
  /**
   * The frame being received: its size prefix while `frame` is undefined, then its bytes. The
   * socket reads straight into them (no chunks of its own, no copies).
   */
  private readonly sizeBytes = Buffer.alloc(4);
  private sizeFilled = 0;
  private frame: Buffer | undefined;
  private frameFilled = 0;

  constructor(
    readonly address: BrokerAddress,
    private readonly clientId: string,
    private readonly requestTimeoutMs: number,
  ) {
    this.socket = connect({
      host: address.host,
      port: address.port,
      noDelay: true,
      onread: { buffer: () => this.readInto(), callback: (bytes) => this.received(bytes) },
    });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection in ${requestTimeoutMs} ms`)), requestTimeoutMs);
      this.socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      this.socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error('closed'));
      });
    });
    // Awaited by request(); a connection never used must not fail unhandled.
    this.ready.catch(() => undefined);
    this.socket.on('error', (error) => this.fail(`connection to ${this.describe()} failed: ${error.message}`));
    this.socket.on('close', () => this.fail(`connection to ${this.describe()} closed`));
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Sends one request; resolves with the answer's body (after the correlation id). */
  async request(apiKey: number, apiVersion: number, body: Buffer): Promise<Buffer> {
    if (this.failure) throw this.failure;
    try {
      await this.ready;
    } catch (error) {
      this.fail(`cannot connect to ${this.describe()}: ${(error as Error).message}`);
    }
    if (this.failure) throw this.failure;
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) & 0x7fffffff;
    const clientIdLength = Buffer.byteLength(this.clientId, 'utf8');
    const header = Buffer.allocUnsafe(4 + 2 + 2 + 4 + 2 + clientIdLength);
    header.writeInt32BE(header.length - 4 + body.length, 0);
    header.writeInt16BE(apiKey, 4);
    header.writeInt16BE(apiVersion, 6);
    header.writeInt32BE(correlationId, 8);
    header.writeInt16BE(clientIdLength, 12);
    header.write(this.clientId, 14, 'utf8');
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(`request ${apiKey} v${apiVersion} to ${this.describe()} had no answer in ${this.requestTimeoutMs} ms`);
        this.socket.destroy();
      }, this.requestTimeoutMs);
      this.inFlight.set(correlationId, { resolve, reject, timer });
      this.socket.cork();
      this.socket.write(header);
      this.socket.write(body);
      this.socket.uncork();
    });
  }

  close(): void {
    this.fail(`connection to ${this.describe()} closed by the reader`);
    this.socket.destroy();
  }

  private describe(): string {
    return `${this.address.host}:${this.address.port}`;
  }

  private fail(message: string): void {
    if (!this.failure) this.failure = new BrokerConnectionError(message);
    for (const request of this.inFlight.values()) {
      clearTimeout(request.timer);
      request.reject(this.failure);
    }
    this.inFlight.clear();
    if (!this.socket.destroyed) this.socket.destroy();
  }

  /** Where the next bytes read go: the rest of the size prefix, or the rest of the frame. */
  private readInto(): Uint8Array {
    return this.frame ? this.frame.subarray(this.frameFilled) : this.sizeBytes.subarray(this.sizeFilled);
  }

  private received(bytes: number): boolean {
    if (this.failure) return false;
    if (this.frame === undefined) {
      this.sizeFilled += bytes;
      if (this.sizeFilled === 4) {
        this.sizeFilled = 0;
        this.startFrame(this.sizeBytes.readInt32BE(0));
      }
      return true;
    }
    this.frameFilled += bytes;
    if (this.frameFilled === this.frame.length) {
      const frame = this.frame;
      this.frame = undefined;
      this.deliver(frame);
    }
    return true;
  }

  private startFrame(size: number): void {
    if (size < 4) {
      this.fail(`${this.describe()} sent a frame of ${size} bytes`);
      return;
    }
    this.frame = Buffer.allocUnsafe(size);
    this.frameFilled = 0;
  }

  private deliver(frame: Buffer): void {
    const correlationId = frame.readInt32BE(0);
    const request = this.inFlight.get(correlationId);
    if (!request) {
      this.fail(`${this.describe()} answered unknown correlation id ${correlationId}`);
      return;
    }
    this.inFlight.delete(correlationId);
    clearTimeout(request.timer);
    request.resolve(frame.subarray(4));
  }
}

/** host:port (an IPv6 host in brackets; port 9092 when none is given). */
export function parseAddress(broker: string): BrokerAddress {
  const colon = broker.lastIndexOf(':');
  if (colon < 0) return { host: broker, port: 9092 };
  return { host: broker.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(broker.slice(colon + 1)) };
}
