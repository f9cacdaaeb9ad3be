"""The benchmark: the service against a framework floor and a naive proxy, driven by wrk on 127.0.0.1."""
