/**
 * The CLI's option types, as commander options: commander checks each value (choices, argParser)
 * while it parses, before any action opens a store, and reports a bad one as a usage error (main.ts
 * turns that into exit code 2, without a stack trace). A parser's message names the option, so it
 * reads on its own as well.
 */
import { InvalidArgumentError, Option } from 'commander';
import { isValidUsername, normalizeUsername } from '../../domain/username.js';
import { isQueryTime } from '../../projections/ports/page.js';

export const FORMATS = ['table', 'json'] as const;
export type Format = (typeof FORMATS)[number];

/** `--format <format>`: table or json unless the command offers others. */
export function formatOption(choices: readonly string[] = FORMATS): Option {
  return new Option('--format <format>', choices.join(' or ')).choices(choices).default('table');
}

/** A parser of whole numbers from min to max. */
export function wholeNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

/** `<flags> <n>`: a whole number from min to max, `fallback` when absent. */
export function numberOption(flags: string, description: string, min: number, max: number, fallback?: number): Option {
  const option = new Option(flags, description);
  option.argParser(wholeNumber(option.long ?? flags, min, max));
  return fallback === undefined ? option : option.default(fallback);
}

/** `--limit <n>`: entries per page, 1 to 1000. */
export const limitOption = (fallback: number, description = 'entries per page (1-1000)'): Option =>
  numberOption('--limit <n>', description, 1, 1000, fallback);

/** An ISO-8601 time (a date alone means its midnight UTC). */
export function isoTime(flag: string): (value: string) => Date {
  return (value) => {
    const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
    if (Number.isNaN(ms)) throw new InvalidArgumentError(`${flag} must be an ISO-8601 time such as 2026-01-31 or 2026-01-31T12:00:00Z`);
    // The same bounds for every command, and as the HTTP API's (projections/ports/page.ts).
    if (!isQueryTime(ms)) throw new InvalidArgumentError(`${flag} must lie in the years 1 to 9999 (UTC)`);
    return new Date(ms);
  };
}

/** `--from <time>` and `--to <time>`, parsed to Dates (the action checks that from < to). */
export const fromOption = (): Option => new Option('--from <time>', 'at or after this ISO-8601 time').argParser(isoTime('--from'));
export const toOption = (): Option => new Option('--to <time>', 'before this ISO-8601 time').argParser(isoTime('--to'));

/**
 * `--user <username>`: a user id is the lower-cased username, so `Alice` finds alice. A value no user
 * could have (empty, too long, other characters) is a usage error, not an empty result.
 */
export const userOption = (): Option =>
  new Option('--user <username>', 'only this user (case-insensitive)').argParser((value: string) => {
    const id = normalizeUsername(value);
    if (!isValidUsername(id)) throw new InvalidArgumentError('--user must be a username: 3 to 32 of a-z, 0-9, _ . -');
    return id;
  });

/** A value from a known list, with the message callers expect (commander's choices() words its own). */
export function oneOf<T extends string>(known: readonly T[], problem: (value: string) => string): (value: string) => T {
  return (value) => {
    if (!(known as readonly string[]).includes(value)) throw new InvalidArgumentError(problem(value));
    return value as T;
  };
}

const MAX_POSITION = 2n ** 63n - 1n;

/** A global log position (a whole number that fits the stores' signed 64-bit positions, as a bigint). */
export function position(value: string): bigint {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  const n = BigInt(value);
  if (n > MAX_POSITION) throw new InvalidArgumentError(`must be at most ${MAX_POSITION}`);
  return n;
}

