import { userStreamId } from '../domain/events.js';
import { userDecider } from '../domain/user.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand } from './handle-command.js';

export async function logout(deps: CommandDeps, input: { userId: string }): Promise<CommandResult<{ position: bigint }>> {
  const outcome = await handleCommand(deps.bus, {
    streamId: userStreamId(input.userId),
    decider: userDecider,
    command: { type: 'RecordLogout', userId: input.userId, at: deps.clock().toISOString() },
    eventIds: () => deps.newId(),
  });
  if (!outcome.ok) return fail(outcome.error);
  return succeed({ position: outcome.appended[0]?.position ?? 0n });
}
