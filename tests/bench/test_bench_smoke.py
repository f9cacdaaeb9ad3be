"""The bench's pure parts: wrk's output (captured from real runs), py-spy's shares, and where it writes."""
import pytest

from bench import soak
from bench.profile import OTHER, owners, shares
from bench.report import README_BEGIN, README_END
from bench.run import parse_wrk
from bench.wrk import WrkError
from testkit.harness import ROOT

# wrk 4.1.0 against the naive baseline (wrk pads the percentiles in seconds with a trailing space).
SECONDS = """\
Running 3s test @ http://127.0.0.1:53185/email
  2 threads and 256 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   896.75ms  421.11ms   1.91s    53.78%
    Req/Sec   114.90    130.24   514.00     79.31%
  Latency Distribution
     50%    1.03s
     75%    1.22s
     90%    1.39s
     99%    1.68s
  450 requests in 3.10s, 99.02KB read
Requests/sec:    145.30
Transfer/sec:     31.97KB
"""

# Against the fake Mailgun without credentials, answering after wrk's 1 s timeout; the counts and
# percentiles edited so that each differs from the others.
ERRORS = """\
Running 3s test @ http://127.0.0.1:42995/v3/mg.example.com/messages
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   446.00us    0.00us   0.00us    -nan%
    Req/Sec     1.00      0.00     1.00    100.00%
  Latency Distribution
     50%  446.00us
     75%    2.31ms
     90%    5.37ms
     99%   27.71ms
  8 requests in 3.13s, 784.00B read
  Socket errors: connect 1, read 2, write 0, timeout 8
  Non-2xx or 3xx responses: 5
Requests/sec:      2.56
Transfer/sec:     250.75B
"""


@pytest.mark.parametrize("text", [SECONDS, SECONDS.replace("s\n", "s \n")])
def test_reads_throughput_and_latency_in_seconds(text):
    result = parse_wrk(text)
    assert (result.requests, result.seconds, result.rps) == (450, 3.10, 145.30)
    assert result.p50_ms == pytest.approx(1030) and result.p99_ms == pytest.approx(1680)
    assert result.errors == 0


def test_counts_every_kind_of_error_and_reads_microseconds():
    result = parse_wrk(ERRORS)
    assert result.p50_ms == pytest.approx(0.446) and result.p99_ms == pytest.approx(27.71)
    assert (result.non_2xx, result.socket_errors, result.timeouts) == (5, 11, 8)
    assert result.errors == 16


def test_output_without_latency_distribution_is_an_error():
    with pytest.raises(WrkError):
        parse_wrk(SECONDS.replace("Latency Distribution", "").replace("50%", "").replace("99%", ""))


def test_profile_shares_count_each_sample_toward_every_row_its_stack_matches():
    prefix = "process 1:\"gunicorn\";Flask.__call__ (flask/app.py:1);"
    folded = "\n".join([
        prefix + "Session.send (requests/sessions.py:2);HTTPAdapter.send (requests/adapters.py:3) 6",
        prefix + "Session.send (requests/sessions.py:4);extract_cookies (http/cookiejar.py:5) 3",
        prefix + "log (logging/__init__.py:6) 1",
    ])
    got = shares(folded)
    assert got["requests: the provider call, urllib3 and http.client included"] == 0.9
    assert got["requests' Session.send outside the adapter (proxies, hooks, redirects, cookie jar)"] == 0.3
    assert got["http.cookiejar (cookie jars and their locks)"] == 0.3
    assert got["logging: the JSON log lines"] == 0.1
    assert got["gunicorn outside the app (HTTP parsing, the thread pool)"] == 0


def test_profile_owners_give_each_sample_to_the_innermost_frame_they_claim():
    prefix = "process 1:\"gunicorn\";ThreadWorker.handle (gunicorn/workers/gthread.py:1);Flask.__call__ (flask/app.py:1);"
    folded = "\n".join([
        prefix + "send_email (sendmailproxy/api.py:2);HTTPAdapter.send (requests/adapters.py:3);recv (socket.py:4) 5",
        prefix + "send_email (sendmailproxy/api.py:2);JsonLineFormatter.format (sendmailproxy/logconfig.py:5);"
                 "encode (json/encoder.py:6) 2",
        prefix + "send_email (sendmailproxy/api.py:2);Schema.load (marshmallow/schema.py:7);"
                 "AddressField._deserialize (sendmailproxy/schemafields.py:8) 1",
        prefix + "send_email (sendmailproxy/api.py:9) 1",
        "process 1:\"gunicorn\";Thread._bootstrap (threading.py:10) 1",
    ])
    got = owners(folded)
    assert got["requests, urllib3 and http.client: the provider call"] == 0.5
    assert got["logging: the JSON log lines"] == 0.2
    assert got["validating the message: marshmallow and our schema"] == 0.1
    assert got["our own code (sendmailproxy/)"] == 0.1
    assert got[OTHER] == 0.1
    assert sum(got.values()) == pytest.approx(1)


def test_the_readme_has_the_markers_the_bench_writes_between():
    text = (ROOT / "README.md").read_text()
    assert text.index(README_BEGIN) < text.index(README_END)


def test_soak_growth_is_counted_from_the_second_minute_to_the_last():
    # Worker 1 fills its pools in the first minute, then stays flat; worker 2 grows 1 MiB a minute throughout.
    samples = [{"t": t, "master": 50.0, "workers": {"1": 40.0 + min(t, 60) / 10, "2": 40.0 + t / 60}}
               for t in range(5, 601, 5)]
    results = {"seconds": 600, "connections": 16, "delay_ms": 40, "rest": {"1": 40.0, "2": 40.0}, "samples": samples,
               "wrk": {"requests": 100, "rps": 300.0, "non_2xx": 0, "socket_errors": 0}}
    rows = soak.growth(results)
    assert rows["1"]["growth"] == 0 and rows["1"]["first"] == 46
    assert rows["2"]["growth"] == pytest.approx(8, abs=0.1)  # the medians of minutes 2 and 10
    assert "**grows**" in soak.render(results)
    del samples[:]
    samples += [{"t": t, "master": 50.0, "workers": {"1": 46.0}} for t in range(5, 601, 5)]
    assert "no growth" in soak.render(results)
