"""bench/run.py reads wrk's output with a pure function: checked on output captured from real runs."""
import pytest

from bench.run import parse_wrk
from bench.wrk import WrkError

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
