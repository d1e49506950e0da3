-- wrk as an http_proxy client: wrk connects to the forward proxy named by its URL, and asks it for
-- the URL given as the script's argument in absolute form, with that URL's Host:
--
--   wrk -s bench/absolute-form.lua http://127.0.0.1:PROXY http://127.0.0.1:UP/1k
--   sends  GET http://127.0.0.1:UP/1k HTTP/1.1
--          Host: 127.0.0.1:UP
--
-- Only init (and done, from bench/latency.lua: the exact percentiles after the run) are defined,
-- no request(): wrk.init calls wrk.format() once after init, so the request is built once and
-- sent as is, exactly as without a script (no Lua call per request). wrk runs from the
-- repository root, where the dofile path below resolves.
dofile("bench/latency.lua")

function init(args)
  local url = args[1]
  local authority = url and url:match("^http://([^/]+)/")
  if not authority then
    error("usage: wrk -s bench/absolute-form.lua http://PROXY:PORT http://HOST:PORT/PATH")
  end
  wrk.path = url
  wrk.headers["Host"] = authority
end
