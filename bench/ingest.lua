-- wrk script for bench/ingest.py: each wrk thread cycles through its own slice of
-- pre-signed Twilio webhooks (one "signature<TAB>form body" per line). INGEST_FIRST and
-- INGEST_COUNT pick the part of the file one run may use (0-based), so that the runs of an
-- alternating measure never resend a request an earlier one sent.
local counter = 0

function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

function init(args)
  items = {}
  for line in io.lines(os.getenv("INGEST_REQUESTS")) do
    local tab = line:find("\t", 1, true)
    items[#items + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
  local threads = tonumber(os.getenv("INGEST_WRK_THREADS"))
  local offset = tonumber(os.getenv("INGEST_FIRST"))
  local count = tonumber(os.getenv("INGEST_COUNT"))
  slice = math.floor(count / threads)
  first = offset + thread_id * slice
  sent = 0
  path = os.getenv("INGEST_PATH")
end

function request()
  local item = items[first + (sent % slice) + 1]
  sent = sent + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = item[1],
  }, item[2])
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
