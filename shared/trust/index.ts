// Trust: state authorities, signed rosters, the channel charter, and the standing they give (DESIGN.md "Trust").
export * from './confusables.ts';
export * from './documents.ts';
export * from './roster.ts';
export * from './charter.ts';
export * from './standing.ts';
