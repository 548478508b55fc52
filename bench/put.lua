-- PUT with If-Match: each wrk thread has one connection and owns one configuration (line
-- `id name version` of the file, by thread number); it sends the ETag of its last answer
-- (at first the version in the file), and a changed ~1 KB config each time, so every
-- request writes a new version.
-- wrk -t N -c N -s put.lua URL -- TARGETS_FILE
local count = 0

function setup(thread)
  count = count + 1
  thread:set("index", count)
end

local id, head, tail, etag, rev

function init(args)
  local n = 0
  for line in io.lines(args[1]) do
    n = n + 1
    if n == index then
      local name, version
      id, name, version = line:match("^(%S+) (%S+) (%d+)$")
      etag = '"' .. version .. '"'
      head = '{"name": "' .. name .. '", "comments": "written by the benchmark", "config": {"rev": '
    end
  end
  tail = ', "service": "svc", "database": {"host": "db1.internal", "port": 5432, ' ..
    '"pool": {"min": 2, "max": 20}}, "features": ["search", "export"], "blob": "' ..
    string.rep("0123456789abcdef", 48) .. '"}}'
  rev = 0
end

function request()
  rev = rev + 1
  local headers = {}
  for key, value in pairs(wrk.headers) do headers[key] = value end
  headers["Content-Type"] = "application/json"
  headers["If-Match"] = etag
  return wrk.format("PUT", "/api/v1/configurations/" .. id, headers, head .. rev .. tail)
end

function response(status, headers, body)
  etag = headers["ETag"] or headers["etag"] or etag
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
