-- wrk script for bench/run.py --driver wrk: POST the same JSON-RPC body over and over.
-- The body comes from the file named by BENCH_BODY_FILE (run.py writes body(0, context)).
-- A response counts as an error unless it is HTTP 200 carrying a "result" member; done()
-- prints one line, BENCH_RESULT {json}, that run.py reads.

local file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

bad = 0

function response(status, headers, body)
   if status ~= 200 or not string.find(body, '"result":', 1, true) then
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local rejected = 0
   for _, thread in ipairs(threads) do
      rejected = rejected + thread:get("bad")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"socket_errors":%d,"bad_responses":%d,' ..
      '"mean_us":%f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, rejected,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
