// Secrets leave the environment once read, but stay this process's: `hotline check run` asks the relay every half
// second with the admin token, and every call after the first found HOTLINE_ADMIN_TOKEN gone.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adminToken, takeSecret } from '../../client/cli/context.ts';

const dir = mkdtempSync(join(tmpdir(), 'hotline-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('takeSecret', () => {
  it('removes the variable from the environment and gives the same secret to every later call in the process', () => {
    process.env.HOTLINE_TEST_SECRET = 'first value';
    expect(takeSecret('HOTLINE_TEST_SECRET')).toBe('first value');
    expect(process.env.HOTLINE_TEST_SECRET).toBeUndefined();
    expect(takeSecret('HOTLINE_TEST_SECRET')).toBe('first value');
  });

  it('reads NAME_FILE once, and removes it too', () => {
    const file = join(dir, 'secret');
    writeFileSync(file, 'from the file\n');
    process.env.HOTLINE_TEST_FILE_SECRET_FILE = file;
    expect(takeSecret('HOTLINE_TEST_FILE_SECRET')).toBe('from the file');
    expect(process.env.HOTLINE_TEST_FILE_SECRET_FILE).toBeUndefined();
    rmSync(file);
    expect(takeSecret('HOTLINE_TEST_FILE_SECRET')).toBe('from the file');
  });

  it('gives the admin token from HOTLINE_ADMIN_TOKEN to every request of a polling command, with no data dir to fall back on', () => {
    process.env.HOTLINE_ADMIN_TOKEN = 'operator token';
    const nowhere = { data: join(dir, 'no-relay-here') };
    expect(adminToken(nowhere)).toBe('operator token');
    expect(process.env.HOTLINE_ADMIN_TOKEN).toBeUndefined();
    expect(adminToken(nowhere)).toBe('operator token');
  });
});
