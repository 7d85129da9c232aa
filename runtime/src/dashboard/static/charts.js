// The metrics charts: `GET /apps/{app}/metrics` drawn with uPlot, one chart
// per question a user asks — how fast, how much, how big, how broken.

import { h, fill } from "./dom.js";

/** Minutes the charts show. */
export const WINDOW_MINUTES = 60;

const COLORS = ["#5b3cc4", "#e0871b", "#d23c3c", "#2a9d8f"];

/** The four charts, with each series' label and how to read it from a minute. */
const CHARTS = [
  {
    id: "response-time",
    title: "Response time (ms)",
    series: [
      ["p50", (m) => m.response_time_ms?.p50],
      ["p95", (m) => m.response_time_ms?.p95],
      ["p99", (m) => m.response_time_ms?.p99],
    ],
  },
  {
    id: "throughput",
    title: "Throughput (requests per minute)",
    series: [["requests", (m) => m.requests]],
    zero: true,
  },
  {
    id: "memory",
    title: "Memory (MB, peak of the app's dynos)",
    series: [
      ["total", (m) => m.memory_mb?.total],
      ["quota", (m) => m.memory_mb?.quota],
    ],
  },
  {
    id: "errors",
    title: "Errors per minute",
    series: [
      ["5xx", (m) => m.status?.["5xx"]],
      ["H/L codes", (m) => Object.values(m.errors ?? {}).reduce((a, b) => a + b, 0)],
    ],
    zero: true,
  },
];

/**
 * Aligns the API's minutes (only those with traffic or dynos) on every minute
 * of the window: x in Unix seconds, a gap (null) where nothing was measured,
 * 0 for counters in a minute with no requests.
 */
export function align(series, now = Date.now()) {
  const last = Math.floor(now / 60000) * 60;
  const xs = [];
  for (let i = WINDOW_MINUTES - 1; i >= 0; i--) xs.push(last - i * 60);
  const byMinute = new Map(series.map((m) => [Math.floor(Date.parse(m.at) / 1000), m]));
  return CHARTS.map((chart) => [
    xs,
    ...chart.series.map(([, read]) =>
      xs.map((x) => {
        const minute = byMinute.get(x);
        if (minute) return read(minute) ?? null;
        return chart.zero ? 0 : null;
      }),
    ),
  ]);
}

/** Draws the charts into `el` and returns a function that updates them. */
export function mount(el) {
  const width = () => Math.max(300, Math.floor((el.clientWidth - 24) / 2) - 16);
  const plots = CHARTS.map((chart) => {
    const box = h("figure", { class: "chart", id: `chart-${chart.id}` }, h("figcaption", {}, chart.title));
    el.append(box);
    return new uPlot(
      {
        width: width(),
        height: 180,
        series: [
          {},
          ...chart.series.map(([label], i) => ({
            label,
            stroke: COLORS[i % COLORS.length],
            width: 2,
            spanGaps: false,
            // A minute between gaps is a point, not an invisible line.
            points: { show: true, size: 5 },
          })),
        ],
        axes: [{}, { size: 50 }],
        scales: { y: { range: (_, min, max) => [0, Math.max(1, max * 1.1)] } },
        legend: { live: true },
      },
      [[], ...chart.series.map(() => [])],
      box,
    );
  });
  const resize = () => plots.forEach((p) => p.setSize({ width: width(), height: 180 }));
  window.addEventListener("resize", resize);
  return {
    update(metrics) {
      align(metrics.series ?? []).forEach((data, i) => plots[i].setData(data));
    },
    destroy() {
      window.removeEventListener("resize", resize);
      plots.forEach((p) => p.destroy());
      fill(el);
    },
  };
}

/** The window's totals, as `kumo metrics` prints them. */
export function summary(metrics) {
  const s = metrics.summary ?? {};
  const t = s.response_time_ms ?? {};
  const errors = Object.entries(s.errors ?? {})
    .map(([code, n]) => `${code} ${n}`)
    .join(", ");
  return [
    ["Requests", `${s.requests ?? 0} (${s.throughput_rps ?? 0}/s)`],
    ["Response time", t.p50 == null ? "none" : `p50 ${t.p50} ms, p95 ${t.p95} ms, p99 ${t.p99} ms`],
    ["Errors", errors || "none"],
    ["Memory", s.memory_mb ? `peak ${s.memory_mb.total} MB of ${s.memory_mb.quota} MB` : "none"],
  ];
}
