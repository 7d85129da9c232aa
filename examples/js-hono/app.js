// A Hono app for Kumo, written as for any fetch-style runtime: the default
// export's `fetch` serves each request. Config vars are in process.env.
import { Hono } from "hono";

const app = new Hono();

app.get("/", (c) =>
  c.text(`${process.env.GREETING || "Hello"} from Hono on Kumo: ${c.req.method} ${c.req.path}\n`),
);

app.post("/echo", async (c) => c.text(await c.req.text()));

app.get("/json/:name", (c) => c.json({ name: c.req.param("name") }));

export default app;
