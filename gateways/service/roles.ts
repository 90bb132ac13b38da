/**
 * Which parts of the service a process runs. `all` is the single-process default (and the only
 * role that makes sense on the embedded store, whose in-memory view and in-process bus cannot be
 * shared between processes).
 */
export const ROLES = ['all', 'api', 'gateway', 'relay', 'projector'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

export interface RoleParts {
  http: boolean;
  ws: boolean;
  relay: boolean;
  projector: boolean;
  /**
   * The command bus is told it follows the log (commands/handle-command.ts keepFresh), fed by the
   * gateway's log feed: commands on a cached stream then decide without reading it, the API's too
   * when it shares the process. Only where a gateway runs, since only it feeds the cache.
   */
  commandCacheFollowsLog: boolean;
}

export function partsOf(role: Role): RoleParts {
  return {
    http: role === 'all' || role === 'api',
    ws: role === 'all' || role === 'gateway',
    relay: role === 'all' || role === 'relay',
    projector: role === 'all' || role === 'projector',
    commandCacheFollowsLog: role === 'all' || role === 'gateway',
  };
}
