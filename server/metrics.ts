// Prometheus metrics for one relay instance (its own registry, so several relays can run in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface RelayMetrics {
  readonly registry: Registry;
  readonly connections: Gauge;
  readonly accepted: Counter<'kind'>;
  readonly rejected: Counter<'code'>;
  readonly commitSeconds: Histogram;
  readonly commitBatch: Histogram;
  readonly pending: Gauge;
  readonly delivered: Counter;
  /** How late an escalation step fired: firedAt − due, in seconds (the scheduler's precision under load). */
  readonly deadlineFireError: Histogram;
  readonly escalationSteps: Counter<'action'>;
  readonly acks: Counter<'outcome'>;
  /** From a `send` frame's arrival to its `accepted` reply (after the durable commit), as the relay sees it. */
  readonly acceptSeconds: Histogram;
  /** Times the relay stopped reading from its sockets because too many sends were waiting (admission control). */
  readonly backpressurePauses: Counter;
}

export function createMetrics(withDefaults: boolean): RelayMetrics {
  const registry = new Registry();
  // Event-loop delay sampled at 1 ms (prom-client's default is 10 ms, too coarse for a 10 ms latency target).
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'hotline_', eventLoopMonitoringPrecision: 1 });
  return {
    registry,
    connections: new Gauge({ name: 'hotline_connections', help: 'Open WebSocket connections', labelNames: ['state'], registers: [registry] }),
    accepted: new Counter({ name: 'hotline_accepted_total', help: 'Envelopes durably accepted', labelNames: ['kind'], registers: [registry] }),
    rejected: new Counter({ name: 'hotline_rejected_total', help: 'Messages refused, by error code', labelNames: ['code'], registers: [registry] }),
    commitSeconds: new Histogram({
      name: 'hotline_commit_seconds',
      help: 'Duration of one group-commit transaction',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    commitBatch: new Histogram({ name: 'hotline_commit_batch_size', help: 'Writes per group commit', buckets: [1, 2, 5, 10, 50, 100, 500, 1000], registers: [registry] }),
    pending: new Gauge({ name: 'hotline_pending_deliveries', help: 'Deliveries not yet confirmed by the recipient device', registers: [registry] }),
    delivered: new Counter({ name: 'hotline_delivered_total', help: 'Deliveries confirmed by recipient devices', registers: [registry] }),
    deadlineFireError: new Histogram({
      name: 'hotline_deadline_fire_error_seconds',
      help: 'How late an escalation step fired after its due time (firedAt - due)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers: [registry],
    }),
    escalationSteps: new Counter({ name: 'hotline_escalation_steps_total', help: 'Escalation steps fired, by action', labelNames: ['action'], registers: [registry] }),
    acks: new Counter({ name: 'hotline_acks_total', help: 'First acknowledgements of threads, met or late', labelNames: ['outcome'], registers: [registry] }),
    acceptSeconds: new Histogram({
      name: 'hotline_accept_seconds',
      help: 'Time from a send frame arriving to its accepted reply, after the durable commit',
      buckets: [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    backpressurePauses: new Counter({
      name: 'hotline_backpressure_pauses_total',
      help: 'Times the relay stopped reading from its sockets because too many sends waited for a signature check or commit',
      registers: [registry],
    }),
  };
}
