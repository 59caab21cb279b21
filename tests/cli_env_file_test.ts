import assert from "node:assert/strict";
import { parseEnvAssignment, parseEnvFile } from "../lib/env_file.ts";
import { DeployTenantError, ExitCode } from "../lib/errors.ts";

Deno.test("parseEnvFile reads plain assignments, export, comments and blank lines", () => {
  const vars = parseEnvFile(
    [
      "# settings for the hook",
      "",
      "MIN_SCORE=70",
      "export REGION = eu-west ",
      "EMPTY=",
      "URL=https://x.test/?a=1&b=2",
      "INLINE=value # a comment",
      "HASH=a#b",
      "   INDENTED=yes",
    ].join("\n"),
  );
  assert.deepEqual(vars, {
    MIN_SCORE: "70",
    REGION: "eu-west",
    EMPTY: "",
    URL: "https://x.test/?a=1&b=2",
    INLINE: "value",
    HASH: "a#b",
    INDENTED: "yes",
  });
});

Deno.test("parseEnvFile keeps single quotes literal and unescapes double quotes", () => {
  const vars = parseEnvFile(
    String.raw`SINGLE='a\nb # not a comment'
DOUBLE="line1\nline2\t\"quoted\" \\ \$HOME"
SPACES="  padded  " # trailing comment
`,
  );
  assert.equal(vars.SINGLE, String.raw`a\nb # not a comment`);
  assert.equal(vars.DOUBLE, 'line1\nline2\t"quoted" \\ $HOME');
  assert.equal(vars.SPACES, "  padded  ");
});

Deno.test("parseEnvFile reads quoted values spanning several lines", () => {
  const vars = parseEnvFile(
    [
      'KEY="-----BEGIN KEY-----',
      "abc",
      '-----END KEY-----"',
      "SINGLE='one",
      "two'",
      "AFTER=1",
    ].join("\r\n"),
  );
  assert.equal(vars.KEY, "-----BEGIN KEY-----\nabc\n-----END KEY-----");
  assert.equal(vars.SINGLE, "one\ntwo");
  assert.equal(vars.AFTER, "1");
});

Deno.test("parseEnvFile lets a later definition win and does not expand variables", () => {
  assert.deepEqual(parseEnvFile("A=1\nB=$A\nA=2\n"), { A: "2", B: "$A" });
});

Deno.test("parseEnvFile names the file and line of a malformed line", () => {
  const cases: [string, number, RegExp][] = [
    ["A=1\nB=2\nthis is not an assignment\n", 3, /expected KEY=VALUE/],
    ["A=1\n1BAD=x\n", 2, /invalid variable name "1BAD"/],
    ['A=1\nB="never closed\nC=3\n', 2, /never closed/],
    ["A='x' y\n", 1, /after the closing quote/],
  ];
  for (const [text, line, problem] of cases) {
    assert.throws(
      () => parseEnvFile(text, "prod.env"),
      (error: unknown) => {
        assert.ok(error instanceof DeployTenantError);
        assert.equal(error.code, "invalidEnvFile");
        assert.equal(error.exitCode, ExitCode.usage);
        assert.match(error.message, new RegExp(`^prod\\.env:${line}: `));
        assert.match(error.message, problem);
        return true;
      },
    );
  }
});

Deno.test("parseEnvAssignment splits at the first '=' and rejects malformed arguments", () => {
  assert.deepEqual(parseEnvAssignment("TOKEN=a=b"), ["TOKEN", "a=b"]);
  assert.deepEqual(parseEnvAssignment("EMPTY="), ["EMPTY", ""]);
  for (const bad of ["NOVALUE", "=x", "1A=x", "A B=x"]) {
    assert.throws(() => parseEnvAssignment(bad), (error: unknown) => {
      assert.ok(error instanceof DeployTenantError);
      assert.equal(error.exitCode, ExitCode.usage);
      assert.ok(error.message.includes(`"${bad}"`), error.message);
      return true;
    });
  }
});
