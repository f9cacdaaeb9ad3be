"""Mailgun adapter: exactly what is sent for every message in the table, the probe, and the session it sends with."""
import base64
import re
from urllib.parse import parse_qsl

import pytest
from responses import matchers

from sendmailproxy.message import Address, Attachment, Message
from sendmailproxy.providers import MailgunProvider, Outcome, OutcomeKind
from sendmailproxy.providers.httptransport import USER_AGENT
from tests.providers.conftest import OPTIONS, SETTINGS, adapter

URL = "https://api.mailgun.net/v3/mg.example.com/messages"
QUEUED = {"id": "<20250101120000.1.ABC@mg.example.com>", "message": "Queued. Thank you."}
BASE = [("from", "sender@example.com"), ("to", "ann@example.com")]

# The form fields each message of the table must become (attachments are checked as file parts).
EXPECTED_FIELDS = {
    "single": BASE + [("subject", "Hello"), ("text", "Hi Ann")],
    "many_recipients": BASE + [("to", "Bob Jones <bob@example.com>"), ("to", "carol@example.com"),
                               ("subject", "Hello all"), ("text", "Hi all")],
    "cc_bcc": BASE + [("cc", "Bob Jones <bob@example.com>"), ("cc", "carol@example.com"), ("bcc", "dave@example.com"),
                      ("subject", "Copies"), ("text", "See copies")],
    "html_only": BASE + [("subject", "HTML"), ("html", "<p>Hi <b>Ann</b></p>")],
    "text_and_html": BASE + [("subject", "Both"), ("text", "Hi"), ("html", "<p>Hi</p>")],
    "reply_to": BASE + [("subject", "Reply"), ("text", "Reply, please"),
                        ("h:Reply-To", "Support Desk <desk@example.com>")],
    "display_names": [("from", "Example News <news@example.com>"), ("to", '"Smith, John" <john@example.com>'),
                      ("to", "=?utf-8?b?Wm/DqyDDnG7Dr2PDtmTDqQ==?= <zoe@example.com>"),
                      ("subject", "Names"), ("text", "Names")],
    "custom_headers": BASE + [("subject", "Headers"), ("text", "Headers"), ("h:X-Campaign", "spring-2025"),
                              ("h:X-Greeting", "Grüße")],
    "tags": BASE + [("subject", "Tags"), ("text", "Tags"), ("o:tag", "welcome"), ("o:tag", "onboarding")],
    "metadata": BASE + [("subject", "Metadata"), ("text", "Metadata"), ("o:tag", "welcome"), ("v:customer", "c_77"),
                        ("v:note", 'a "quoted" 100% \\ /'), ("v:order", "1234")],
    "attachments": BASE + [("subject", "Files"), ("text", "Two files")],
    "unicode": [("from", "=?utf-8?q?=C3=89mile_Zola?= <sender@example.com>"),
                ("to", "=?utf-8?b?5a6J5aau?= <ann@example.com>"), ("subject", "Grüße aus Köln 🌍"),
                ("text", "Привет, мир ✓"), ("html", "<p>日本語のテキスト 🎉</p>")],
    "everything": [("from", "Example News <news@example.com>"), ("to", "ann@example.com"),
                   ("to", "Bob Jones <bob@example.com>"), ("cc", "carol@example.com"), ("bcc", "dave@example.com"),
                   ("subject", "Everything ✓"), ("text", "Plain ✓"), ("html", "<p>Rich ✓</p>"),
                   ("h:Reply-To", "Support Desk <desk@example.com>"), ("h:X-Campaign", "all"),
                   ("o:tag", "welcome"), ("o:tag", "digest")],
}


def sent_form(request):
    """(content type, [(field, value)], [(field, filename, content type, bytes)]) of a form request."""
    content_type = request.headers["Content-Type"]
    if content_type == "application/x-www-form-urlencoded":
        return content_type, parse_qsl(request.body, keep_blank_values=True, strict_parsing=True), []
    kind, boundary = content_type.split("; boundary=")
    fields, files = [], []
    for chunk in request.body.split(b"--" + boundary.encode())[1:-1]:
        head, _, content = chunk[2:-2].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        name = re.search(r'; name="([^"]*)"', headers["Content-Disposition"])[1]
        filename = re.search(r'; filename="([^"]*)"', headers["Content-Disposition"])
        if filename:
            files.append((name, filename[1], headers["Content-Type"], content))
        else:
            fields.append((name, content.decode()))
    return kind, fields, files


def form_matcher(fields, files):
    """Match a form carrying exactly these fields (in any order) and these file parts (in order)."""
    def match(request):
        kind, sent_fields, sent_files = sent_form(request)
        expected_kind = "multipart/form-data" if files else "application/x-www-form-urlencoded"
        valid = kind == expected_kind and sorted(sent_fields) == sorted(fields) and sent_files == files
        return valid, f"sent {kind} fields={sent_fields} files={[f[:3] for f in sent_files]}"
    return match


def headers_matcher():
    basic = base64.b64encode(f"api:{SETTINGS['mailgun'].api_key}".encode()).decode()
    return matchers.header_matcher(
        {"Authorization": f"Basic {basic}", "Accept": "application/json", "User-Agent": USER_AGENT},
        strict_match=False,
    )


def test_send_posts_exactly_the_message(case, message, rsps):
    files = [("attachment", a.filename, a.content_type, a.content) for a in message.attachments]
    rsps.post(URL, json=QUEUED, match=[headers_matcher(), form_matcher(EXPECTED_FIELDS[case], files)])

    outcome = adapter(MailgunProvider).send(message)

    assert outcome == Outcome(OutcomeKind.ACCEPTED, "Queued. Thank you.", message_id=QUEUED["id"], status=200)


def test_binary_attachment_arrives_byte_for_byte(rsps):
    content = bytes(range(256)) + b"\xff\xfe\x00\r\n--"
    image = Attachment("pixel.bin", "application/octet-stream", content)
    message = Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t",
                      attachments=(image,))
    files = [("attachment", "pixel.bin", "application/octet-stream", content)]
    fields = [("from", "a@example.com"), ("to", "b@example.com"), ("subject", "s"), ("text", "t")]
    rsps.post(URL, json=QUEUED, match=[form_matcher(fields, files)])

    assert adapter(MailgunProvider).send(message).kind is OutcomeKind.ACCEPTED


def test_probe_sends_the_poll_message_in_test_mode(rsps):
    fields = [("from", "probe@example.com"), ("to", "probe@example.com"), ("subject", "sendmailproxy probe"),
              ("text", "Circuit probe from sendmailproxy. Sent in the provider's test mode; not delivered."),
              ("o:testmode", "yes")]
    rsps.post(URL, json=QUEUED, match=[headers_matcher(), form_matcher(fields, [])])

    assert adapter(MailgunProvider).probe().kind is OutcomeKind.ACCEPTED


def test_every_call_has_the_timeouts_and_no_environment_lookups(rsps):
    rsps.post(URL, json=QUEUED)
    provider = adapter(MailgunProvider)

    provider.send(Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t"))

    sent = rsps.calls[0].request.req_kwargs
    assert sent["timeout"] == (2.0, 2.0)
    assert (sent["proxies"], sent["verify"]) == ({}, True)
    assert provider._session.trust_env is False


def test_pool_holds_a_connection_per_thread_and_never_retries():
    pool = adapter(MailgunProvider)._session.get_adapter(URL)

    assert (pool._pool_connections, pool._pool_maxsize) == (1, OPTIONS.pool_size)
    assert pool.max_retries.total == 0


def test_proxy_and_ca_bundle_from_the_environment_are_read_once_at_construction(rsps, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    provider = adapter(MailgunProvider)
    monkeypatch.delenv("HTTPS_PROXY")  # later changes are not looked up per request
    rsps.post(URL, json=QUEUED)

    provider.send(Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t"))

    sent = rsps.calls[0].request.req_kwargs
    assert sent["proxies"] == {"https": "http://egress.internal:3128"}
    assert sent["verify"] == "/etc/ssl/corporate.pem"


@pytest.mark.parametrize("no_proxy", ["api.mailgun.net", ".mailgun.net", "*"])
def test_no_proxy_covering_the_host_means_no_proxy(monkeypatch, no_proxy):
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)

    assert adapter(MailgunProvider)._session.proxies == {}


def test_repr_names_the_domain_not_the_key():
    expected = "MailgunProvider(base_url='https://api.mailgun.net', domain='mg.example.com')"
    assert repr(adapter(MailgunProvider)) == expected
