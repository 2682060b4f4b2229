import { configJsonSchema } from '../../config/json-schema.js';
import { UsageError } from '../errors.js';

/** `gatehouse config schema`: the config file's JSON Schema (draft 2020-12), for editors and CI checks. */
export function configCommand(args: string[]): void {
  if (args[0] !== 'schema' || args.length > 1) throw new UsageError('usage: gatehouse config schema');
  process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
}
