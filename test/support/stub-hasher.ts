// Tests that register users but never check passwords: argon2 at the real cost would only slow them.
import type { PasswordHasher } from '../../commands/ports/password-hasher.js';

export const stubHasher: PasswordHasher = {
  hash: async (p) => `$stub$${p.length}`,
  verify: async () => false,
  needsRehash: () => false,
  verifyDummy: async () => undefined,
};
