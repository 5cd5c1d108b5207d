-- wrk script: POST /v1/track with a userId and messageId of its own on every request.
-- Arguments after `--`: RUN_ID WRITE_KEY (the run id keeps reruns against one Redis distinct).
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
  n = 0
end

function request()
  n = n + 1
  local id = run .. "-" .. tid .. "-" .. n
  local body = '{"userId":"u-' .. id .. '","event":"product.viewed","messageId":"m-' .. id ..
    '","properties":{"sku":"S-' .. (n % 1000) .. '","price":19.99}}'
  return wrk.format("POST", "/v1/track", headers, body)
end
