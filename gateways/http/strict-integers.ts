/**
 * TypeBox converts querystring and path values before checking them, and its conversion to an
 * integer truncates: `before=2.5` became 2, `limit=1.9` 1, `before=true` 1, `0x10` 16. A client that
 * sends those has a bug worth hearing about, so an integer field must be written as one (decimal
 * digits, an optional minus) before the conversion runs; anything else is VALIDATION_FAILED.
 */
import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';

const DECIMAL_INTEGER = /^-?\d+$/;

interface ObjectSchema {
  type?: unknown;
  properties?: Record<string, { type?: unknown }>;
}

export function strictIntegers(compile: FastifySchemaCompiler<TSchema>): FastifySchemaCompiler<TSchema> {
  return (route) => {
    const check = compile(route);
    if (route.httpPart === 'body') return check;
    const properties = (route.schema as ObjectSchema).properties ?? {};
    const integers = Object.keys(properties).filter((k) => properties[k]?.type === 'integer');
    if (integers.length === 0) return check;
    return (value: unknown) => {
      if (typeof value === 'object' && value !== null) {
        const input = value as Record<string, unknown>;
        const wrong = integers.filter((k) => typeof input[k] === 'string' && !DECIMAL_INTEGER.test(input[k] as string));
        if (wrong.length > 0) {
          return { error: wrong.map((k) => ({ keyword: 'type', instancePath: `/${k}`, schemaPath: `#/properties/${k}/type`, params: {}, message: 'must be a whole number written in decimal digits' })) };
        }
      }
      return check(value);
    };
  };
}
