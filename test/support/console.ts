import { readFileSync } from 'node:fs';
import { ConsoleMatcher } from '../../src/analysis/console/matcher.js';
import { DEFAULT_RULES_FILE, parseRules } from '../../src/analysis/console/rules.js';

// Loaded once per test file: the shipped default rules.
const defaults = parseRules(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE).rules;

export function newConsoleMatcher(): ConsoleMatcher {
  return new ConsoleMatcher(defaults);
}
