/** The tests' tables are the drill's (peers/tables.ts). */
export { createPkTable, type PkTableOptions } from "../../peers/tables.js";
