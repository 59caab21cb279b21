/** The project-name rule the CLI's prompt checks and the host enforces, and the name suggested. */
import assert from "node:assert/strict";
import { projectNameFrom, projectNameProblem } from "../lib/project_name.ts";

Deno.test("project names: the rule, and a valid suggestion from a directory's name", () => {
  for (const valid of ["acme-crm", "hooks", "a1-b2-c3", "acmehandlers"]) {
    assert.equal(projectNameProblem(valid), undefined, valid);
  }
  assert.match(projectNameProblem("ab")!, /3 to 26/);
  assert.match(projectNameProblem("Acme_CRM")!, /a-z, 0-9 and -/);
  assert.match(projectNameProblem("-acme")!, /hyphen/);
  assert.match(projectNameProblem("acme-handlers")!, /"handlers" after a hyphen is 8/);
  assert.equal(projectNameFrom("My Hooks"), "my-hooks");
  // A part of 8 characters after a hyphen would clash with {name}-{deploymentId} host names.
  assert.equal(projectNameFrom("acme-handlers"), "acmehandlers");
  assert.equal(projectNameFrom("x"), undefined);
  assert.equal(projectNameFrom("a-very-long-directory-name-indeed"), "a-very-long-directory-name");
});
