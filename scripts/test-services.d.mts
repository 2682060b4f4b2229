// Types for scripts/test-services.mjs, which TypeScript code (test helpers, benches) imports.
export interface TestAccount {
  name: string;
  uid: number;
  gid: number;
  /** The command prefix that runs a program as this account (empty when it is us). */
  asUser: string[];
}
export const TEST_USER: string;
export function ensureTestAccount(): TestAccount;
export function startTestServices(
  log?: (line: string) => void,
  options?: { keycloak?: boolean },
): Promise<{ env: Record<string, string>; stop(): Promise<void> }>;
