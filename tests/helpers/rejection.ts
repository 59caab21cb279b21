/**
 * The error a promise rejects with, for tests that assert on its fields.
 *
 * @module
 */
import assert from "node:assert/strict";

/** The error `promise` rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}
