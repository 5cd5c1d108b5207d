-- wrk script: POST /v1/batch of SIZE track events, each with a userId and messageId of its own.
-- Arguments after `--`: RUN_ID WRITE_KEY SIZE (default 100).
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  run = args[1] or tostring(os.time())
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. (args[2] or "bench-write-key"),
  }
  size = tonumber(args[3] or "100")
  n = 0
end

function request()
  local items = {}
  for i = 1, size do
    n = n + 1
    local id = run .. "-" .. tid .. "-" .. n
    items[i] = '{"type":"track","userId":"u-' .. id .. '","event":"product.viewed","messageId":"m-' ..
      id .. '","properties":{"sku":"S-' .. (n % 1000) .. '","price":19.99}}'
  end
  return wrk.format("POST", "/v1/batch", headers, '{"batch":[' .. table.concat(items, ",") .. ']}')
end
