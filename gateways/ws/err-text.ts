/** An error's message for a log line or a frame's detail, whatever was thrown. */
export const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
