import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayRequest } from '../../client/cli/relay-http.ts';

// The CLI's HTTP calls to a relay (node:http/https, no fetch): real sockets against a small server playing the relay.
let server: Server;
let base: string;
const seen: { url: string; headers: IncomingHttpHeaders }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (req.url === '/moved') {
      res.writeHead(301, { location: `${base}/elsewhere` }).end();
    } else if (req.url === '/refused') {
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'INVITE_USED', message: 'invite code was already used' } }));
    } else if (req.url === '/proxy-error') {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
    } else {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body ? (JSON.parse(body) as unknown) : null })));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('relayRequest', () => {
  it('sends JSON with the bearer token and returns the JSON answer', async () => {
    expect(await relayRequest(base, 'POST', '/echo', 'tok', { a: 1 })).toEqual({ echo: { a: 1 } });
    expect(seen.at(-1)?.headers.authorization).toBe('Bearer tok');
  });

  it("turns the relay's JSON error into a HotlineError with its code", async () => {
    await expect(relayRequest(base, 'GET', '/refused', null)).rejects.toMatchObject({ code: 'INVITE_USED', message: 'invite code was already used' });
  });

  it('reports a non-JSON error page by its status', async () => {
    await expect(relayRequest(base, 'GET', '/proxy-error', null)).rejects.toMatchObject({ code: 'INTERNAL', message: 'relay answered HTTP 502' });
  });

  it('does not follow a redirect (the token goes nowhere else) and says where it points', async () => {
    const before = seen.length;
    await expect(relayRequest(base, 'GET', '/moved', 'secret')).rejects.toMatchObject({ code: 'RELAY_UNREACHABLE', message: expect.stringContaining(`redirects to ${base}/elsewhere`) });
    expect(seen.slice(before).map((s) => s.url)).toEqual(['/moved']);
  });

  it('says RELAY_UNREACHABLE with the reason when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(relayRequest(`http://127.0.0.1:${port}`, 'GET', '/healthz', null)).rejects.toMatchObject({ code: 'RELAY_UNREACHABLE', message: expect.stringContaining('ECONNREFUSED') });
  });
});
