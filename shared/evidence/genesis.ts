// The genesis value of every hash chain in Hotline (the audit chain and each sender chain): 32 zero bytes, base64url.

/** prev of a chain's first link: base64url (no padding) of 32 zero bytes. */
export const CHAIN_GENESIS = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
