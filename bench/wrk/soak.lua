-- The soak: a mix at full load for a minute (8 item reads, 1 page of 20, 1 create in 10), to
-- see whether memory grows. Arguments after "--": a run id, the API key and an item id.
dofile("/scripts/report.lua")

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local run_id, api_key, item_path
local sent = 0
function init(args)
  local urandom = io.open("/dev/urandom", "rb")
  run_id = string.format("%s-%02x%02x%02x%02x", args[1], urandom:read(4):byte(1, 4))
  urandom:close()
  api_key = args[2]
  item_path = "/api/v1/items/" .. args[3]
end

function request()
  sent = sent + 1
  local turn = sent % 10
  if turn == 0 then
    local body = string.format('{"name": "soak %s %d %d", "price": "9.99"}', run_id, thread_number, sent)
    return wrk.format("POST", "/api/v1/items",
      {["Content-Type"] = "application/json", ["X-API-Key"] = api_key}, body)
  elseif turn == 5 then
    return wrk.format("GET", "/api/v1/items?limit=20")
  end
  return wrk.format("GET", item_path)
end
