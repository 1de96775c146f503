import { ToolgateError } from './errors.js';

/**
 * A command was called in a way it cannot run (a missing option, two options
 * that exclude each other, a candidate that is its own baseline). The command
 * line prints `error: <message> (<code>)` and exits 2.
 */
export class UsageError extends ToolgateError {}

/**
 * A command failed for a reason the operator can act on (a file that is not
 * there, a server that does not answer, a config without what the command
 * needs). The command line prints `error: <message> (<code>)`, one line with
 * no stack trace, and exits 1.
 */
export class CommandFailedError extends ToolgateError {}
