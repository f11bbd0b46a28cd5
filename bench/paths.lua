-- wrk script for Tune's benchmarks: cycle through a file of request paths.
-- Arguments (after `--`): paths-file method max-requests-per-thread [header ...]
-- Each thread starts at a different offset; the summary is printed as one JSON line.
local paths = {}
local index = 0
local limit = 0
local seen = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  wrk.method = args[2] or "GET"
  limit = tonumber(args[3] or "0") or 0
  for i = 4, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
  index = math.floor(#paths * (id or 0) / 8) % #paths
  if limit > 0 then
    response = function(status, headers, body)
      seen = seen + 1
      if seen >= limit then wrk.thread:stop() end
    end
  end
end

function request()
  index = index + 1
  if index > #paths then index = 1 end
  return wrk.format(nil, paths[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
