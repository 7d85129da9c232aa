// A visit counter that keeps its count in the app's Postgres add-on, through
// Spin's Postgres interface `spin:postgres/postgres@4.0.0` (the one Spin's
// JavaScript SDK binds), which Kumo hosts for an app with a Postgres add-on.
//
// Deploy it and attach a database (see README.md), then
// `curl http://visits-js.localhost:8080/` answers `Visit number 1`, then 2, …
// across restarts and deploys.
import { Connection } from "spin:postgres/postgres@4.0.0";

export default {
  async fetch(request) {
    // DATABASE_URL is set by attaching the add-on; the release phase
    // (migrate.js) made the table.
    const url = process.env.DATABASE_URL;
    if (!url) {
      return new Response("DATABASE_URL is not set: run `kumo addons:create kumo-postgresql`\n", {
        status: 500,
      });
    }
    const db = Connection.open(url);
    // Parameters are typed values of the interface: `str`, `int64` (a BigInt), …
    db.execute("INSERT INTO visits (path) VALUES ($1)", [
      { tag: "str", val: new URL(request.url).pathname },
    ]);
    // count(*) is a Postgres bigint: an `int64` value holding a BigInt.
    const { rows } = db.query("SELECT count(*) FROM visits", []);
    const count = rows.length > 0 ? rows[0][0].val : 0n;
    return new Response(`Visit number ${count}\n`);
  },
};
