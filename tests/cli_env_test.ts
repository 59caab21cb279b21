/** `env list --show-values` prints values that `env load` reads back unchanged. */
import assert from "node:assert/strict";
import { formatEnvValue } from "../commands/env.ts";
import { parseEnvFile } from "../lib/env_file.ts";

Deno.test("formatEnvValue leaves plain values bare and quotes the rest", () => {
  assert.equal(formatEnvValue("70"), "70");
  assert.equal(
    formatEnvValue("https://crm.example/hook?a=1&b=2"),
    "https://crm.example/hook?a=1&b=2",
  );
  assert.equal(formatEnvValue(""), "");
  assert.equal(formatEnvValue("two words"), '"two words"');
  assert.equal(formatEnvValue('say "hi"\n'), '"say \\"hi\\"\\n"');
});

Deno.test("formatEnvValue round-trips through parseEnvFile", () => {
  const values = {
    PLAIN: "70",
    EMPTY: "",
    SPACES: "  padded  ",
    HASH: "a #not-a-comment",
    QUOTES: `it's "quoted"`,
    BACKSLASH: "C:\\path\\n",
    DOLLAR: "$HOME and ${USER}",
    LINES: "line 1\nline 2\r\n\tindented",
    PEM: "-----BEGIN KEY-----\nabc=\n-----END KEY-----\n",
    UNICODE: "café ☕",
  };
  const text = Object.entries(values).map(([key, value]) => `${key}=${formatEnvValue(value)}`)
    .join("\n");
  assert.deepEqual(parseEnvFile(text), values);
});
