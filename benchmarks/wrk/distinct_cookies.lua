-- wrk script: every request carries its own application cookie beside the persistence cookie.
--
--   wrk -t1 -c50 -d5s -s benchmarks/wrk/distinct_cookies.lua URL -- 'SRV=value'
--
-- The one argument after "--" is the persistence cookie the proxy set on a first request
-- ("name=value"), or "" for none. Each request then sends
--
--   Cookie: SRV=value; session=<16 hex digits>
--
-- with a session value no other request of the run has (a per-thread counter and the thread's
-- number), so a proxy that remembers Cookie headers it has already read never sees the same
-- header twice: the opposite of replaying one identical header (l7lb's cache best case).
-- Headers given with -H (Connection: close, ...) are kept.

local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local prefix = ""
local count = 0

function init(args)
  if args[1] ~= nil and args[1] ~= "" then
    prefix = args[1] .. "; "
  end
end

function request()
  count = count + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Cookie"] = string.format("%ssession=%02x%014x", prefix, id or 0, count)
  return wrk.format(nil, nil, headers)
end
