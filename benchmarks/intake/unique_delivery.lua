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
