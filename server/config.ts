// Relay settings with their defaults: limits on everything that comes from outside, and audit checkpoint cadence.
import { availableParallelism } from 'node:os';
import { limits } from '../shared/index.ts';

export interface RelayLimits {
  /** Frames above this get FRAME_TOO_LARGE; the socket is closed (1009) above 4x. */
  readonly maxFrameBytes: number;
  /** Token bucket per connection: sustained messages per second, and the burst allowed. */
  readonly ratePerSec: number;
  readonly rateBurst: number;
  /**
   * Undelivered envelopes one recipient may hold in each of its two queues (FLASH and IMMEDIATE; every other level)
   * before senders get PENDING_CAP; one sender may hold its share of each, senderShare(pendingCap) in accept.ts
   * (a tenth, at least 10), before it gets SENDER_QUOTA.
   */
  readonly pendingCap: number;
  readonly authTimeoutMs: number;
  /** Deliveries in flight (sent, not confirmed) per connection: bounds what a slow reader makes us buffer. */
  readonly deliveryWindow: number;
  /** A delivery not confirmed after this long on a live connection is sent again. */
  readonly redeliverAfterMs: number;
  /** Unauthenticated connections at once. */
  readonly maxUnauthenticated: number;
  /** How often the relay pings each connection; one that has not answered the previous ping by the next is dropped. */
  readonly heartbeatMs: number;
}

/** The relay's certificate (PEM, leaf first, then intermediates) and its private key (PEM): the port speaks wss:// and https://. */
export interface RelayTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** When the certificate stops being valid (ms since the epoch), when known: the relay warns ahead of it. */
  readonly validUntil?: number;
}

export interface RelayConfig {
  readonly host: string;
  readonly port: number;
  /** Native TLS on the one port; null: plain ws:// and http:// (behind a TLS reverse proxy, or on loopback). */
  readonly tls: RelayTls | null;
  /** Data directory; the database, relay key and admin token live here. */
  readonly dataDir: string;
  readonly limits: RelayLimits;
  /** Sign a checkpoint after this many events, or this long after the last one, whichever comes first. */
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  /** Largest number of queued writes committed in one transaction. */
  readonly maxBatch: number;
  /** Open escalation steps the deadline scheduler holds in memory at a time (the rest wait in the store). */
  readonly deadlineWindow: number;
  /** Worker threads checking envelope signatures; 0 checks them on the main thread. */
  readonly verifyThreads: number;
  /** Admission control: stop reading from sockets when this many sends wait for a signature check or commit; read again at `low`. */
  readonly admission: { readonly high: number; readonly low: number };
}

/**
 * One verify thread per core beyond the one the main thread needs (at least one, at most 8). Measured on 2 cores:
 * 1 thread 4,339/s, 2 threads 4,135/s: the main thread is the limit there, and a second worker costs ~7 MB more.
 */
export const defaultVerifyThreads = Math.max(1, Math.min(8, availableParallelism() - 1));

export const defaultLimits: RelayLimits = {
  maxFrameBytes: limits.maxFrameBytes,
  ratePerSec: 500,
  rateBurst: 2000,
  pendingCap: 10_000,
  authTimeoutMs: 10_000,
  deliveryWindow: 256,
  redeliverAfterMs: 15_000,
  maxUnauthenticated: 1_000,
  heartbeatMs: 30_000,
};

export function relayConfig(overrides: Partial<Omit<RelayConfig, 'limits'>> & { limits?: Partial<RelayLimits> } = {}): RelayConfig {
  return {
    host: '127.0.0.1',
    port: 7300,
    tls: null,
    dataDir: './.hotline-relay',
    checkpointEvery: 100,
    checkpointIntervalMs: 10_000,
    maxBatch: 1_000,
    deadlineWindow: 10_000,
    verifyThreads: defaultVerifyThreads,
    admission: { high: 2_000, low: 500 },
    ...overrides,
    limits: { ...defaultLimits, ...(overrides.limits ?? {}) },
  };
}
