-- wrk script for Kumo's benchmarks: each request goes to a Host drawn at random
-- from the file named by KUMO_BENCH_HOSTS (one `<app>.localhost` per line), so
-- load spreads across many apps on one router port. With KUMO_BENCH_DELAY_MS set,
-- each connection waits that long after every response before its next request,
-- so the load is a steady rate (about connections × 1000 / (delay + latency) a second)
-- instead of as much as the server can take.
--   KUMO_BENCH_HOSTS=hosts.txt wrk -c64 -d5s -s benches/lua/random-host.lua http://127.0.0.1:8080/
local hosts = {}
for line in io.lines(os.getenv("KUMO_BENCH_HOSTS")) do
  if #line > 0 then hosts[#hosts + 1] = line end
end

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

function request()
  return wrk.format("GET", "/", { ["Host"] = hosts[math.random(#hosts)] })
end

local pause = tonumber(os.getenv("KUMO_BENCH_DELAY_MS") or "")
if pause then
  function delay()
    return pause
  end
end
