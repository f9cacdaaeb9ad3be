-- One POST per request for wrk: the body and headers come from the environment bench/wrk.py sets,
-- so one script drives the service, the baselines and the fake provider alike.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

-- With BENCH_UNIQUE_HEADER set, each request carries that header with a value no other request of any run has
-- (an Idempotency-Key): the run's prefix, the wrk thread and a counter. Without it wrk sends one fixed request.
local unique = os.getenv("BENCH_UNIQUE_HEADER")
if unique then
  local prefix, threads, counter = os.getenv("BENCH_UNIQUE_PREFIX"), 0, 0
  function setup(thread)
    threads = threads + 1
    thread:set("thread_id", threads)
  end
  function request()
    counter = counter + 1
    wrk.headers[unique] = prefix .. "-" .. thread_id .. "-" .. counter
    return wrk.format()
  end
end

-- With BENCH_DELAY_MS set, each connection waits that long before each request: a steady, paced load (--soak).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  function delay()
    return pause
  end
end
