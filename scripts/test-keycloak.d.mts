// Types for scripts/test-keycloak.mjs, which the harness tests import.
export const KEYCLOAK_REALM: string;
export const KEYCLOAK_START_DEADLINE_MS: number;
export function needsKeycloak(files: string[]): boolean;
export function keycloakVersion(): string;
export function findJavaHome(env?: NodeJS.ProcessEnv, jvmDir?: string): string;
export function startKeycloak(deps: unknown): Promise<{ url: string; env: Record<string, string>; stop(): Promise<void>; detail: string }>;
