/**
 * A schema violation's message as a client reads it, shared by the HTTP API and the WebSocket gateway
 * so both word it alike. TypeBox says "schema is false" where an object allows no other property.
 */
export const readableSchemaMessage = (message: string): string => (message === 'schema is false' ? 'no such property here' : message);
