/**
 * Connection management: how many connections the server holds, for how long, and what ends
 * one. Every connection the server decides to end is closed within a bounded time: HTTP/2
 * first gets a GOAWAY, and its socket is destroyed after a grace period whatever the peer
 * does (Node's HTTP/2 session, once nghttp2 has sent a GOAWAY of its own, stops reading and
 * never notices that the peer went away: without the deadline its descriptor leaks).
 *
 * HTTP/2 settings and limits, chosen here (the configurable ones are flags, see config.ts):
 *
 * | setting                     | value                   | why |
 * | --------------------------- | ----------------------- | --- |
 * | SETTINGS_MAX_CONCURRENT_STREAMS | `--max-streams-per-connection` (256) | bounds the calls (and their memory) one connection can hold; clients queue past it, a peer that ignores it gets REFUSED_STREAM |
 * | SETTINGS_MAX_HEADER_LIST_SIZE | 16 KiB                | the HTTP/1.1 limit (Node's maxHeaderSize); gRPC metadata is far below it; a larger header block is refused with RST_STREAM |
 * | SETTINGS_INITIAL_WINDOW_SIZE | 1 MiB (stream)          | a 4 MiB message in a few round trips; unread data per connection is bounded by the connection window |
 * | connection window           | 2 MiB                   | unread request bytes one connection can make the server hold |
 * | SETTINGS_ENABLE_PUSH        | false                   | the server never pushes |
 * | maxHeaderListPairs          | 128                     | header fields per request (Node's default is 128 too; stated) |
 * | maxSessionMemory            | 32 MiB                  | nghttp2 state + unsent frames per session; past it new streams are refused (ENHANCE_YOUR_CALM) |
 * | maxSessionRejectedStreams   | 100                     | refused streams before the session is torn down (a peer ignoring MAX_CONCURRENT_STREAMS) |
 * | maxSessionInvalidFrames     | 100                     | invalid frames before the session is torn down |
 * | maxOutstandingPings         | 10                      | unanswered PINGs the server sent (Node 20 has no option for unacknowledged SETTINGS); a peer flooding PING or SETTINGS is cut off by nghttp2's bound on queued ACKs (1,000), which the idle and close deadlines then follow with a close |
 * | rapid reset                 | 200 burst, 25 per second | streams the client resets (RST_STREAM) before they end: past the token bucket the session gets GOAWAY ENHANCE_YOUR_CALM and is destroyed (CVE-2023-44487); below nghttp2's own 1,000 / 33 per second, whose GOAWAY Node would not follow with a close |
 * | idle timeout                | `--idle-timeout` (120 s) | a connection with no call in progress; an open stream (long poll, watch) is never idle |
 * | handshake timeout           | `--handshake-timeout` (10 s) | until the TLS handshake, then the HTTP/2 preface (client SETTINGS) or the first HTTP/1.1 request headers, are complete |
 * | close grace                 | 5 s (1 s for abuse)      | after GOAWAY, before the socket is destroyed |
 * | connection cap              | `--max-connections` (10,000) | past it a connection is accepted and closed at once |
 */
import type http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import type { EngineLogger } from "../engine/engine.js";

/** The configurable limits (see config.ts). */
export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly maxStreamsPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
}

export const MAX_HEADER_LIST_BYTES = 16 * 1024;
export const STREAM_WINDOW_BYTES = 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 2 * 1024 * 1024;
export const CLOSE_GRACE_MS = 5_000;
export const ABUSE_CLOSE_GRACE_MS = 1_000;
export const RESET_BURST = 200;
export const RESETS_PER_SECOND = 25;

/** Options for http2.createServer / createSecureServer. */
export function http2Options(limits: ConnectionLimits): http2.ServerOptions {
  return {
    maxSessionMemory: 32,
    maxHeaderListPairs: 128,
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 100,
    maxOutstandingPings: 10,
    // TLS: a connection that negotiated no protocol Node knows is destroyed after this.
    unknownProtocolTimeout: limits.handshakeTimeoutMs,
    settings: {
      maxConcurrentStreams: limits.maxStreamsPerConnection,
      maxHeaderListSize: MAX_HEADER_LIST_BYTES,
      initialWindowSize: STREAM_WINDOW_BYTES,
      enablePush: false,
    },
  };
}

const STATE = Symbol("actionqueue.connection");

interface Conn {
  readonly socket: net.Socket;
  session: http2.ServerHttp2Session | null;
  /** Calls in progress: open HTTP/2 streams, or HTTP/1.1 requests not yet answered. */
  active: number;
  /** Set once the first request headers (HTTP/1.1) or the client preface (HTTP/2) arrived. */
  started: boolean;
  timer: NodeJS.Timeout | null;
  ending: boolean;
  resetTokens: number;
  refilledAt: number;
}

/** Counts what the tracker did, for logs and tests. */
export interface ConnectionStats {
  open: number;
  refused: number;
  idleClosed: number;
  handshakeTimeouts: number;
  abusive: number;
}

/**
 * Tracks every accepted connection: the cap, the handshake and idle timers, rapid-reset
 * detection, and the bounded close.
 */
export class ConnectionTracker {
  private readonly conns = new Set<Conn>();
  private closed = false;
  readonly stats: ConnectionStats = { open: 0, refused: 0, idleClosed: 0, handshakeTimeouts: 0, abusive: 0 };

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly log: EngineLogger,
  ) {}

  /** A TCP connection was accepted (before TLS and before protocol sniffing). False: refused. */
  accept(socket: net.Socket): boolean {
    if (this.closed || this.conns.size >= this.limits.maxConnections) {
      this.stats.refused++;
      if (this.stats.refused === 1 || this.stats.refused % 1000 === 0) {
        this.log.warn({ open: this.conns.size, max: this.limits.maxConnections, refused: this.stats.refused }, "connection limit reached: closing new connections");
      }
      socket.destroy();
      return false;
    }
    const conn: Conn = { socket, session: null, active: 0, started: false, timer: null, ending: false, resetTokens: RESET_BURST, refilledAt: performance.now() };
    (socket as unknown as Record<symbol, Conn>)[STATE] = conn;
    this.conns.add(conn);
    this.stats.open = this.conns.size;
    socket.once("close", () => {
      this.clearTimer(conn);
      this.conns.delete(conn);
      this.stats.open = this.conns.size;
    });
    this.arm(conn, this.limits.handshakeTimeoutMs, () => {
      this.stats.handshakeTimeouts++;
      this.end(conn, "handshake timeout", true);
    });
    return true;
  }

  /** Number of open connections. */
  get size(): number {
    return this.conns.size;
  }

  /** The state of a socket (raw, TLS-wrapped, or the proxy an HTTP/2 session exposes). */
  private of(socket: unknown): Conn | undefined {
    const s = socket as (Record<symbol, Conn | undefined> & { _parent?: Record<symbol, Conn | undefined> }) | null;
    return s?.[STATE] ?? s?._parent?.[STATE];
  }

  /** An HTTP/2 session began on a tracked connection. */
  session(session: http2.ServerHttp2Session): void {
    const conn = this.of(session.socket);
    if (!conn) return;
    conn.session = session;
    session.once("remoteSettings", () => this.start(conn));
    session.once("connect", () => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // the session is already closing
      }
    });
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      this.start(conn);
      this.busy(conn, +1);
      stream.once("close", () => {
        this.busy(conn, -1);
        if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) this.countReset(conn);
      });
    });
    // Node destroys the session on a GOAWAY with an error code and closes it on NO_ERROR; make
    // sure the socket goes too, even if the peer keeps its end open. Calls still in progress
    // finish first (then the idle timer ends the connection).
    session.once("goaway", () => {
      if (conn.active === 0) {
        conn.ending = true;
        this.destroyLater(conn, CLOSE_GRACE_MS);
      }
    });
    session.on("error", () => undefined);
  }

  /** An HTTP/1.1 request arrived (its headers are complete). */
  request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const conn = this.of(req.socket);
    if (!conn) return;
    this.start(conn);
    this.busy(conn, +1);
    res.once("close", () => this.busy(conn, -1));
  }

  /** Graceful end of everything (shutdown): GOAWAY to every session; destroy after `graceMs`. */
  closeAll(graceMs: number): void {
    this.closed = true;
    for (const conn of this.conns) {
      this.clearTimer(conn);
      if (conn.session) {
        conn.ending = true;
        if (!conn.session.closed) conn.session.close();
      }
      this.destroyLater(conn, graceMs);
    }
  }

  private start(conn: Conn): void {
    if (conn.started) return;
    conn.started = true;
    if (conn.active === 0) this.armIdle(conn);
    else this.clearTimer(conn);
  }

  private busy(conn: Conn, delta: number): void {
    conn.active += delta;
    if (!conn.started || conn.ending) return;
    if (conn.active === 0) this.armIdle(conn);
    else if (delta > 0 && conn.active === 1) this.clearTimer(conn);
  }

  private armIdle(conn: Conn): void {
    this.arm(conn, this.limits.idleTimeoutMs, () => {
      this.stats.idleClosed++;
      this.end(conn, "idle", false);
    });
  }

  /** Token bucket over streams the client reset: refills RESETS_PER_SECOND, holds RESET_BURST. */
  private countReset(conn: Conn): void {
    // Streams closed because the session went down are not the client's resets.
    if (conn.ending || conn.socket.destroyed || conn.session?.destroyed || conn.session?.closed) return;
    const now = performance.now();
    conn.resetTokens = Math.min(RESET_BURST, conn.resetTokens + ((now - conn.refilledAt) / 1000) * RESETS_PER_SECOND);
    conn.refilledAt = now;
    conn.resetTokens -= 1;
    if (conn.resetTokens < 0) {
      this.stats.abusive++;
      this.log.warn({ remote: conn.socket.remoteAddress }, "too many streams reset by the client: closing the connection (ENHANCE_YOUR_CALM)");
      this.end(conn, "rapid reset", true);
    }
  }

  /**
   * Ends a connection: HTTP/2 gets a GOAWAY (NO_ERROR, or ENHANCE_YOUR_CALM for `abusive`)
   * and the socket is destroyed after the grace period; anything else is destroyed now (an
   * HTTP/1.1 connection is idle when this runs, or never sent a complete request).
   */
  private end(conn: Conn, why: string, abusive: boolean): void {
    if (conn.ending) return;
    conn.ending = true;
    this.clearTimer(conn);
    this.log.debug({ remote: conn.socket.remoteAddress, why }, "closing connection");
    const session = conn.session;
    if (session && !session.destroyed) {
      try {
        if (abusive) session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
        else session.close();
      } catch {
        // already closing
      }
      this.destroyLater(conn, abusive ? ABUSE_CLOSE_GRACE_MS : CLOSE_GRACE_MS);
      return;
    }
    conn.socket.destroy();
  }

  private destroyLater(conn: Conn, ms: number): void {
    if (conn.socket.destroyed) return;
    this.arm(conn, ms, () => {
      conn.session?.destroy();
      conn.socket.destroy();
    });
  }

  private arm(conn: Conn, ms: number, fire: () => void): void {
    this.clearTimer(conn);
    conn.timer = setTimeout(fire, ms);
    conn.timer.unref();
  }

  private clearTimer(conn: Conn): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
  }
}
