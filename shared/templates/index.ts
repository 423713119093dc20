// Templates and languages: the catalogue format, typed fields, STIX 2.1 checks, rendering per language and TLP handling.
export * from './catalogue.ts';
export * from './stix.ts';
export * from './notice.ts';
