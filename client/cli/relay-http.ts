// One HTTP call to a relay's JSON API (admin, review, join): bearer token, JSON in and out, relay errors as HotlineError.
import { HotlineError, isErrorCode } from '../../shared/index.ts';

export async function relayRequest<T>(base: string, method: 'GET' | 'POST', path: string, token: string | null, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (cause) {
    throw new HotlineError('RELAY_UNREACHABLE', `cannot reach the relay at ${base}`, { cause });
  }
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok) {
    const code = json.error?.code;
    throw new HotlineError(isErrorCode(code) ? code : 'INTERNAL', json.error?.message ?? `relay answered HTTP ${res.status}`);
  }
  return json as T;
}
