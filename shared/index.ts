// The protocol module's public surface: import from here outside shared/.
export * from './errors.ts';
export * from './crypto.ts';
export * from './canonical.ts';
export * from './levels.ts';
export * from './escalation.ts';
export * from './schemas.ts';
export * from './identity.ts';
export * from './prekey.ts';
export * from './envelope.ts';
export * from './envelope-verify.ts';
export * from './receipt.ts';
export * from './audit.ts';
export * from './uuid.ts';
export * from './review.ts';
export * from './review-bundle.ts';
export * from './trust/index.ts';
export * from './evidence/index.ts';
