import { HandoverError } from '../../orchestrator/errors.ts';

/** Awaits a promise that must reject with a HandoverError, and returns that error. */
export async function rejection(p: Promise<unknown>): Promise<HandoverError> {
  const err: unknown = await p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  if (!(err instanceof HandoverError)) throw err instanceof Error ? err : new Error(String(err));
  return err;
}
