"""The one throwaway CA (trustme) the fakes serve TLS with: the SMTP relay's and the SNS certificate host's."""

import functools

import trustme


@functools.cache
def fake_ca() -> trustme.CA:
    return trustme.CA()
