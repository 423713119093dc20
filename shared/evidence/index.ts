// Evidence: the sender chain, witness statements, signed relay events, bundle manifests and scope, and time checks.
export * from './genesis.ts';
export * from './sender-chain.ts';
export * from './witness.ts';
export * from './relay-event.ts';
export * from './manifest.ts';
export * from './scope.ts';
export * from './times.ts';
export * from './assessment.ts';
