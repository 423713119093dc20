// One HTTP call to a relay's JSON API (admin, review, join): bearer token, JSON in and out, relay errors as HotlineError; https:// verified (a private CA from --ca or HOTLINE_CA).
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { HotlineError, isErrorCode } from '../../shared/index.ts';
import { caOption, relayConnectFailure, type RelayTlsOptions } from '../relay-connection.ts';

/** The environment variable naming a PEM file of CA certificates to trust for relays (set by `hotline --ca FILE` too). */
export const CA_ENV = 'HOTLINE_CA';

/** Largest relay answer read (a review export of many notices is the largest). */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;
/** No byte from the relay for this long: the call fails instead of hanging. */
const IDLE_TIMEOUT_MS = 120_000;

let cachedTls: { file: string | undefined; tls: RelayTlsOptions | undefined } | null = null;

/**
 * How this CLI verifies wss:// and https:// relays: the system's roots plus the CA certificates in the file
 * HOTLINE_CA names (which `--ca FILE` sets), or the system's roots alone. BAD_INPUT when the file cannot be read or
 * holds no PEM certificate.
 * @example new HotlineClient({ ...options, tls: relayTls() });
 */
export function relayTls(): RelayTlsOptions | undefined {
  const file = process.env[CA_ENV] || undefined;
  if (cachedTls && cachedTls.file === file) return cachedTls.tls;
  let tls: RelayTlsOptions | undefined;
  if (file !== undefined) {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new HotlineError('BAD_INPUT', `cannot read the CA file ${file} (--ca / ${CA_ENV}): ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new HotlineError('BAD_INPUT', `${file} (--ca / ${CA_ENV}) holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    }
    // Added to the system's roots, not instead of them: relays with a public certificate keep working beside it.
    tls = { ca: [...rootCertificates, pem] };
  }
  cachedTls = { file, tls };
  return tls;
}

interface RelayAnswer {
  readonly status: number;
  readonly text: string;
  readonly location: string | undefined;
}

function send(url: URL, method: 'GET' | 'POST', headers: Record<string, string>, body: string | undefined): Promise<RelayAnswer> {
  return new Promise((resolve, reject) => {
    const options = { method, headers, timeout: IDLE_TIMEOUT_MS, ...(url.protocol === 'https:' ? caOption(relayTls()) : {}) };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          res.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), location: res.headers.location }));
      res.on('error', reject);
    };
    const req = url.protocol === 'https:' ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/** Calls `method base+path` with JSON in and out; the relay's error answers come back as HotlineError with its code. */
export async function relayRequest<T>(base: string, method: 'GET' | 'POST', path: string, token: string | null, body?: unknown): Promise<T> {
  let url: URL;
  try {
    url = new URL(`${base}${path}`);
  } catch (cause) {
    throw new HotlineError('BAD_INPUT', `${base} is not a relay URL (e.g. https://relay.example:7300)`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HotlineError('BAD_INPUT', `${base} is not an http:// or https:// URL`);
  let answer: RelayAnswer;
  try {
    answer = await send(
      url,
      method,
      { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      body === undefined ? undefined : JSON.stringify(body),
    );
  } catch (cause) {
    if (cause instanceof HotlineError) throw cause;
    throw relayConnectFailure(base, cause);
  }
  let json: { error?: { code?: string; message?: string } } = {};
  try {
    const parsed: unknown = JSON.parse(answer.text);
    if (typeof parsed === 'object' && parsed !== null) json = parsed as typeof json;
  } catch {
    // not JSON: reported by status below, or an empty object for a 2xx
  }
  // Not followed: a token is never sent on to another address, and the user learns the URL to use.
  if (answer.status >= 300 && answer.status < 400) {
    throw new HotlineError('RELAY_UNREACHABLE', `the relay at ${base} redirects to ${answer.location ?? 'another address'} (HTTP ${answer.status}): use the relay's own URL (wss:// for https://)`);
  }
  if (answer.status < 200 || answer.status >= 300) {
    const code = json.error?.code;
    throw new HotlineError(isErrorCode(code) ? code : 'INTERNAL', json.error?.message ?? `relay answered HTTP ${answer.status}`);
  }
  return json as T;
}
