// Minimal typings for better-sqlite3 (the copy @mikro-orm/better-sqlite installs; @types/better-sqlite3
// is not a dependency). Declares only what infra/event-store/embedded.ts uses.
declare module 'better-sqlite3' {
  namespace Database {
    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      /** busy timeout in milliseconds */
      timeout?: number;
    }

    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    interface Statement<R = unknown> {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): R | undefined;
      all(...params: unknown[]): R[];
      /** Return INTEGER columns of this statement as bigint. */
      safeIntegers(toggle?: boolean): this;
    }

    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      deferred(...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
      exclusive(...args: Parameters<F>): ReturnType<F>;
    }

    interface PragmaOptions {
      simple?: boolean;
    }
  }

  class Database {
    constructor(filename: string, options?: Database.Options);
    readonly open: boolean;
    readonly inTransaction: boolean;
    readonly name: string;
    prepare<R = unknown>(sql: string): Database.Statement<R>;
    exec(sql: string): this;
    pragma(source: string, options?: Database.PragmaOptions): unknown;
    transaction<F extends (...args: never[]) => unknown>(fn: F): Database.Transaction<F>;
    defaultSafeIntegers(toggle?: boolean): this;
    close(): this;
  }

  export = Database;
}
