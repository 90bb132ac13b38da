import { EntitySchema } from '@mikro-orm/core';

/**
 * users: who exists, for search and display. Never a password hash: the projection receives only
 * public records (redacted at the source), and the table has no column that could hold one.
 * Columns other than the id are nullable because a login can be delivered before its registration.
 */
export interface UserRow {
  userId: string;
  username: string | null;
  role: string | null;
  registeredAt: Date | null;
  lastLoginAt: Date | null;
}

export const UserEntity = new EntitySchema<UserRow>({
  name: 'UserRow',
  tableName: 'users',
  properties: {
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    username: { type: 'string', nullable: true },
    role: { type: 'string', nullable: true },
    registeredAt: { type: 'datetime', nullable: true, fieldName: 'registered_at' },
    lastLoginAt: { type: 'datetime', nullable: true, fieldName: 'last_login_at' },
  },
});
