-- One POST per request for wrk: the body and headers come from the environment bench/wrk.py sets,
-- so one script drives the service, the baselines and the fake provider alike.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
