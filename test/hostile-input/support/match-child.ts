/**
 * Loads the user rules of a directory and feeds one console line to the matcher, in a child process: with
 * a backtracking engine the line can block the JS thread for ever, so the parent holds the time limit.
 * Prints {"ms": <matching time>, "matches": [rule ids]}.
 */
import { ConsoleMatcher } from '../../../src/analysis/console/matcher.js';
import { loadRules } from '../../../src/analysis/console/rules.js';

const [dir, line] = process.argv.slice(2) as [string, string];
const { rules } = await loadRules({ userDir: dir });
const matcher = new ConsoleMatcher(rules);
const started = performance.now();
const matches = matcher.feed(`${line}\n`, 0).map((m) => m.ruleId);
process.stdout.write(JSON.stringify({ ms: performance.now() - started, matches }));
