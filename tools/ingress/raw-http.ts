/**
 * A lean HTTP/1.1 load client for benchmarks: requests are serialised once, before timing, and
 * sent on kept-alive sockets with one request in flight per socket; a response is read only as far
 * as its status and Content-Length. Node's own http client spends about as much CPU per request as
 * the ingress does, which on a 2-core machine takes that CPU from the system being measured.
 */
import { connect, Socket } from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

/** One serialised POST, ready to write to a socket. */
export function serializePost(host: string, path: string, contentType: string, body: Uint8Array): Buffer {
  const head = `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.byteLength}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

class Connection {
  private readonly socket: Socket;
  private received: Buffer = Buffer.alloc(0);
  private waiting: ((status: number) => void) | undefined;
  closed = false;

  constructor(port: number, host: string) {
    this.socket = connect({ port, host, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (): void => {
      this.closed = true;
      this.settle(0);
    };
    this.socket.on('error', fail);
    this.socket.on('close', fail);
  }

  send(request: Buffer): Promise<number> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(request);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private settle(status: number): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(status);
  }

  private onData(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    const headerEnd = this.received.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.received.toString('latin1', 0, headerEnd);
    const length = CONTENT_LENGTH.exec(head);
    if (!length) {
      // Not something this client reads (e.g. chunked): count it as a failure and drop the socket.
      this.received = Buffer.alloc(0);
      this.socket.destroy();
      return;
    }
    const total = headerEnd + HEADER_END.length + Number(length[1]);
    if (this.received.length < total) return;
    const status = Number(head.slice(9, 12));
    this.received = this.received.subarray(total);
    this.settle(status);
  }
}

/** Sends serialised requests over a pool of kept-alive connections (opened as needed). */
export class RawHttpClient {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();

  constructor(
    private readonly port: number,
    private readonly host: string,
  ) {}

  /** Resolves with the response status, or 0 when the connection failed. */
  async post(request: Buffer): Promise<number> {
    let connection = this.idle.pop();
    while (connection?.closed) connection = this.idle.pop();
    if (!connection) {
      connection = new Connection(this.port, this.host);
      this.all.add(connection);
    }
    const status = await connection.send(request);
    if (connection.closed) this.all.delete(connection);
    else this.idle.push(connection);
    return status;
  }

  close(): void {
    for (const connection of this.all) connection.destroy();
    this.all.clear();
    this.idle.length = 0;
  }
}
