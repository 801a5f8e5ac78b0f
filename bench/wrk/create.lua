-- The write path: POST /api/v1/items with a name no other request of the run uses.
-- Arguments after "--": a run id (unique per run) and the API key.
dofile("/scripts/report.lua")

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local run_id, api_key
local sent = 0
function init(args)
  -- Random per wrk run and thread: a warm-up and the measured run never send the same name.
  local urandom = io.open("/dev/urandom", "rb")
  run_id = string.format("%s-%02x%02x%02x%02x", args[1], urandom:read(4):byte(1, 4))
  urandom:close()
  api_key = args[2]
end

function request()
  sent = sent + 1
  local body = string.format('{"name": "bench %s %d %d", "price": "9.99"}', run_id, thread_number, sent)
  return wrk.format("POST", "/api/v1/items",
    {["Content-Type"] = "application/json", ["X-API-Key"] = api_key}, body)
end
