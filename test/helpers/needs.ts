import test from 'ava';

/**
 * The ava test function for tests that need something of the machine (root, BPF, a built loader):
 * `missing` says what is absent, undefined when all is there. Outside CI the tests are skipped and the
 * reason is printed; in CI (CI=true) a missing capability is a failing test that names it — never a
 * silent skip.
 */
export function needs(what: string, missing: string | undefined): typeof test.serial | typeof test.serial.skip {
  if (missing === undefined) return test.serial;
  if (process.env.CI === 'true') {
    test(`${what}: the machine has what these tests need`, (t) => t.fail(`CI=true and ${what} cannot run: ${missing}`));
  } else {
    process.stderr.write(`skipping ${what}: ${missing}\n`);
  }
  return test.serial.skip;
}
