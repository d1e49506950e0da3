/** The value of an in-process breaker or limiter call, which never answers with a promise. */
export function sync<T>(value: T | Promise<T>): T {
  if (value instanceof Promise) throw new Error("expected an in-process answer, got a promise");
  return value;
}
