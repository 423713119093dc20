// The client's keyfiles (keystore.ts, authority/authority-keystore.ts) are sealed by shared/sealing.ts, which the relay's key uses too.
export {
  DEFAULT_KDF,
  b64uText,
  deriveKey,
  kdfBelowDefault,
  kdfSchema,
  newKdfParams,
  openKeyfile,
  parseOpenedPlaintext,
  sealPlaintext,
  type KdfParams,
  type KeyfileKind,
  type SealedFields,
} from '../shared/index.ts';
