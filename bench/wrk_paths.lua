-- wrk script: cycle through request paths read from a file, print a JSON summary.
-- Usage: wrk -t2 -c16 -d10s -s bench/wrk_paths.lua http://127.0.0.1:PORT -- paths.txt
-- Each wrk thread starts at a different offset so the threads do not hit the same path together.

local paths = {}
local index = 0
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("offset", thread_count * 7919)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  index = (offset or 0) % #paths
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index], { ["Accept"] = "application/json" })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
