// Prints the README's configuration table from the settings themselves, so the two cannot drift.
import { settingsTable } from './config.ts';

console.log(settingsTable());
