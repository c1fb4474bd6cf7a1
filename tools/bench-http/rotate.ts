// The HTTP benchmark's load generator: request loops ("lanes") that each visit every server in
// turn, so that the servers compared are loaded at the same moments, by the same client, and
// whatever else the machine is doing falls on all of them alike. There are `connections` lanes
// per server and `connections` keep-alive connections to each server, one GET at a time on each,
// so a server never has more requests in flight than its connections (a lane waits for a free
// one), and about that many while the lanes run. The client is a few lines over a socket (a fixed
// request, responses read by their Content-Length) so that it takes little of the CPU the
// servers share with it.
import { connect, type Socket } from 'node:net';

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly request: Buffer;
  /** Responses with a 2xx status, and requests that failed or got another status. */
  ok: number;
  failed: number;
}

export function target(url: string): Target {
  const { hostname, port, pathname } = new URL(url);
  const request = Buffer.from(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: keep-alive\r\n\r\n`);
  return { host: hostname, port: Number(port), request, ok: 0, failed: 0 };
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

/** One keep-alive connection that sends a request and resolves with the status of its response. */
class Connection {
  private readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: ((status: number) => void) | undefined;

  constructor(private readonly to: Target) {
    this.socket = connect(to.port, to.host);
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.answer();
    });
    const fail = (): void => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(0);
    };
    this.socket.on('error', fail);
    this.socket.on('close', fail);
  }

  private answer(): void {
    const headerEnd = this.buffered.indexOf(HEADER_END);
    if (headerEnd < 0 || this.waiting === undefined) return;
    const head = this.buffered.toString('latin1', 0, headerEnd);
    const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
    const end = headerEnd + HEADER_END.length + length;
    if (this.buffered.length < end) return;
    this.buffered = this.buffered.subarray(end);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting(Number(head.slice(9, 12)));
  }

  async get(): Promise<void> {
    const status = await new Promise<number>((resolve) => {
      this.waiting = resolve;
      this.socket.write(this.to.request);
    });
    if (status >= 200 && status < 300) this.to.ok++;
    else this.to.failed++;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The connections to one server: a lane takes a free one, or waits for one. */
class Pool {
  private readonly idle: Connection[];
  private readonly waiting: ((connection: Connection) => void)[] = [];

  constructor(to: Target, connections: number) {
    this.idle = Array.from({ length: connections }, () => new Connection(to));
    this.all = [...this.idle];
  }

  readonly all: readonly Connection[];

  async get(): Promise<void> {
    const connection = this.idle.pop() ?? (await new Promise<Connection>((resolve) => this.waiting.push(resolve)));
    try {
      await connection.get();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next(connection);
      else this.idle.push(connection);
    }
  }
}

/** The lanes of one framework and connection count: `connections` per server, `connections` connections to each. */
export class Lanes {
  private readonly pools: Pool[];

  constructor(targets: readonly Target[], private readonly connections: number) {
    this.pools = targets.map((to) => new Pool(to, connections));
  }

  /**
   * Every lane sends `cycles` requests to every server, one after the other, starting at
   * different servers: every server gets `perCycle * cycles` requests, about `connections` at a time.
   */
  async run(cycles: number): Promise<void> {
    const count = this.pools.length;
    await Promise.all(
      Array.from({ length: this.perCycle }, async (_, lane) => {
        for (let cycle = 0; cycle < cycles; cycle++) {
          for (let step = 0; step < count; step++) await this.pools[(lane + step) % count]!.get();
        }
      }),
    );
  }

  /** Requests per server per cycle: one from each lane. */
  get perCycle(): number {
    return this.connections * this.pools.length;
  }

  close(): void {
    for (const pool of this.pools) for (const connection of pool.all) connection.close();
  }
}
