// The release phase (`release: node migrate.js` in the Procfile): brings the
// schema up to date before a release goes live. A failure fails the release
// and the previous one keeps serving.
import { Connection } from "spin:postgres/postgres@4.0.0";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is not set: run `kumo addons:create kumo-postgresql`");
  process.exit(1);
}
try {
  const db = Connection.open(url);
  db.execute(
    `CREATE TABLE IF NOT EXISTS visits (
       id bigserial PRIMARY KEY,
       at timestamptz NOT NULL DEFAULT now(),
       path text NOT NULL
     )`,
    [],
  );
} catch (error) {
  // The interface's error (`{ tag: "query-failed", val: … }`) is the payload.
  console.error(`migration failed: ${JSON.stringify(error.payload ?? String(error))}`);
  process.exit(1);
}
console.log("migrated: table visits is ready");
