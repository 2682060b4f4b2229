/** Wrong command-line usage: printed with the usage text, exit 64. */
export class UsageError extends Error {}
