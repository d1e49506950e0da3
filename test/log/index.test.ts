import { expect, test } from "bun:test";
import { createLogger } from "../../src/log/index.ts";

test("a message repeated at once is logged every time (consola would fold repeats)", () => {
  const lines: string[] = [];
  const log = createLogger("info", { write: (line) => lines.push(line) });
  for (let i = 0; i < 10; i++) log.info("egress deny client=127.0.0.1 host=\"a\" reason=deny-rule");
  expect(lines).toHaveLength(10);
  expect(lines[9]).toContain('msg="egress deny client=127.0.0.1');
});
