-- wrk script: POST the same signed payload with a unique X-GitHub-Delivery per request.
-- args: <body file> <signature> <path> <run id>
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  signature = args[2]
  path = args[3]
  run = args[4]
end

function request()
  counter = counter + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "issue_comment",
    ["X-Hub-Signature-256"] = signature,
    ["X-GitHub-Delivery"] = string.format("%s-%d-%d", run, tid, counter),
  }, body)
end

-- One machine-readable line (latencies in microseconds): the human summary's units vary
-- (us, ms, s) and its percentiles were misread.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"non_2xx\": %d, " ..
    "\"socket_errors\": %d, \"p50_us\": %d, \"p95_us\": %d, \"p99_us\": %d, " ..
    "\"max_us\": %d}\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
