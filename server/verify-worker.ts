// Worker thread of the verify pool: checks envelope signatures (verifyEnvelope) and witness statements off the relay's main thread.
import { parentPort } from 'node:worker_threads';
import { initCrypto } from '../shared/crypto.ts';
import { verifyEnvelope } from '../shared/envelope-verify.ts';
import { toHotlineError } from '../shared/errors.ts';
import type { Envelope, WitnessStatement } from '../shared/schemas.ts';
import { verifyWitness } from '../shared/evidence/witness.ts';
import type { VerifyOutcome, VerifyRequest } from './verify-pool.ts';

function verifyOne(request: VerifyRequest): VerifyOutcome {
  try {
    if (request.kind === 'witness') {
      // The main thread's zod already accepted the statement.
      verifyWitness(JSON.parse(request.json) as WitnessStatement);
      return { id: request.id, ok: true, bodyHash: '', hash: '' };
    }
    // The main thread's zod already accepted this envelope; the text is its JSON.stringify.
    const digest = verifyEnvelope(JSON.parse(request.json) as Envelope);
    return { id: request.id, ok: true, bodyHash: digest.bodyHash, hash: digest.hash };
  } catch (cause) {
    const error = toHotlineError(cause);
    return { id: request.id, ok: false, code: error.code, message: error.message };
  }
}

const port = parentPort;
if (!port) throw new Error('server/verify-worker.ts runs as a worker thread of the verify pool');
// Messages that arrive before libsodium is ready wait in order; the port delivers them only to the listener.
const ready = initCrypto();
port.on('message', (batch: readonly VerifyRequest[]) => {
  void ready.then(() => port.postMessage(batch.map(verifyOne)));
});
