/**
 * Reading event data defensively. Events come from the log through the broker; a record of a known
 * type whose data has the wrong shape must fail loudly (and be parked) rather than write nulls or
 * "Invalid Date" into a read model.
 */
export class ProjectionDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProjectionDataError';
  }
}

type Data = Readonly<Record<string, unknown>>;

const dataOf = (data: unknown): Data => {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new ProjectionDataError('event data is not an object');
  return data as Data;
};

export function text(data: unknown, key: string): string {
  const v = dataOf(data)[key];
  if (typeof v !== 'string' || v.length === 0) throw new ProjectionDataError(`data.${key} must be a non-empty string`);
  return v;
}

/** A string that may be empty (a message body is checked by the domain, not here). */
export function anyText(data: unknown, key: string): string {
  const v = dataOf(data)[key];
  if (typeof v !== 'string') throw new ProjectionDataError(`data.${key} must be a string`);
  return v;
}

/** An ISO-8601 time, normalized (so equal instants compare equal whatever their spelling). */
export function time(data: unknown, key: string): string {
  const v = dataOf(data)[key];
  const ms = typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(ms)) throw new ProjectionDataError(`data.${key} must be an ISO-8601 time`);
  return new Date(ms).toISOString();
}

export function pair(data: unknown, key: string): [string, string] {
  const v = dataOf(data)[key];
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'string' && x.length > 0)) {
    throw new ProjectionDataError(`data.${key} must be two non-empty strings`);
  }
  return [v[0] as string, v[1] as string];
}
