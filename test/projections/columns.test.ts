// A bulk write's columns come from the entity (projections/projection.ts, columnsOf): the names and
// types the projections bind are the tables' own, and a typo fails when the module loads.
import { EntitySchema } from '@mikro-orm/core';
import t from 'tap';
import { ActivityEntity } from '../../projections/activity-log.js';
import { MessageEntity } from '../../projections/messages.js';
import { columnList, columnsOf } from '../../projections/projection.js';
import { UserEntity } from '../../projections/users.js';

t.test('every column of the entity, in declaration order, named as the table names it', async (t) => {
  t.same(columnsOf(UserEntity), [
    ['user_id', 'text'],
    ['username', 'text'],
    ['role', 'text'],
    ['registered_at', 'timestamp'],
    ['last_login_at', 'timestamp'],
    ['erased_at', 'timestamp'],
  ]);
  t.same(columnsOf(ActivityEntity), [
    ['event_id', 'uuid'],
    ['position', 'bigint'],
    ['user_id', 'text'],
    ['action', 'text'],
    ['target', 'text'],
    ['at', 'timestamp'],
  ], 'the surrogate id is left out');
});

t.test('only and omit pick columns; a name the entity lacks throws', async (t) => {
  t.same(columnsOf(UserEntity, { only: ['username', 'user_id'] }), [['username', 'text'], ['user_id', 'text']]);
  t.same(
    columnsOf(MessageEntity, { omit: ['edited_at', 'deleted_at', 'changed_revision'] }).map(([c]) => c),
    ['chat_id', 'revision', 'message_id', 'sender_id', 'client_message_id', 'body', 'sent_at', 'position'],
  );
  t.throws(() => columnsOf(UserEntity, { omit: ['user_name'] }), /UserRow has no column user_name/);
  t.equal(columnList(columnsOf(UserEntity, { only: ['user_id', 'role'] })), '"user_id", "role"');
});

t.test('a property type with no bulk-write column type throws', async (t) => {
  const Odd = new EntitySchema<{ id: string; flag: boolean }>({
    name: 'OddRow',
    tableName: 'odd',
    properties: { id: { type: 'string', primary: true }, flag: { type: 'boolean' } },
  });
  t.throws(() => columnsOf(Odd), /OddRow\.flag: no bulk-write column type for boolean/);
});
