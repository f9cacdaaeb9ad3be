"""The relay's protocol: aiosmtpd's SMTP, with the fault in force applied at each phase and every transaction kept."""

import asyncio
import logging

from aiosmtpd.smtp import MISSING, SMTP, AuthResult

from .server import HANG_LIMIT_S

DATA_SIZE_LIMIT = 50 * 1024 * 1024  # above the 25 MB the service accepts, once base64 has grown it
GREETING_NAME = "fake-relay.localhost"  # aiosmtpd would look up the FQDN for every connection

# aiosmtpd logs every command, AUTH as deprecated, and a client failing TLS with a traceback; a hook that
# raises still shows, as a "500 Error" reply the test sees.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


class FakeSmtp(SMTP):
    """One connection. `endpoint` holds the fault in force, the records and the credentials."""

    def __init__(self, endpoint, listener, **kwargs):
        self.endpoint, self.listener = endpoint, listener
        self._greeted = self._data_seen = False
        super().__init__(Hooks(endpoint), hostname=GREETING_NAME, ident="fakeproviders",
                         data_size_limit=DATA_SIZE_LIMIT, auth_required=True, authenticator=endpoint.authenticate,
                         loop=asyncio.get_running_loop(), **kwargs)

    def _cb_client_connected(self, reader, writer):
        super()._cb_client_connected(reader, writer)
        self.listener.opened(writer)  # so that stopping the relay closes this connection too
        self.endpoint.store.count_connection(self.endpoint.api.name)

    def connection_lost(self, error):
        self._end_transaction()
        self.listener.closed(self._writer)
        super().connection_lost(error)

    async def push(self, status):
        if not self._greeted:  # the first line is the greeting
            self._greeted = True
            fault = self.endpoint.fault
            if fault.mode == "greeting":
                await super().push(fault.reply())
                self.transport.close()
                return
        await super().push(status)

    async def smtp_DATA(self, arg):
        self._data_seen = True
        fault = self.endpoint.fault
        if self.envelope.rcpt_tos and fault.refuses("data"):
            await self.push(fault.reply())
        elif self.envelope.rcpt_tos and fault.mode == "drop_in_data":
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            self.endpoint.store.count(self.endpoint.api.name, "drop_in_data")
            self.transport.abort()  # unread data makes the kernel answer the client with a reset
        else:
            await super().smtp_DATA(arg)

    async def smtp_RSET(self, arg):
        self._end_transaction()
        await super().smtp_RSET(arg)

    async def smtp_QUIT(self, arg):
        self._end_transaction()
        await super().smtp_QUIT(arg)

    def _end_transaction(self) -> None:
        """A transaction that ends without DATA is a probe: recorded, never delivered."""
        if self.envelope is not None and self.envelope.mail_from and not self._data_seen:
            self.endpoint.record(self.envelope, None)
            self.envelope.mail_from = None
        self._data_seen = False


class Hooks:
    """aiosmtpd's handler: the fault decides each reply; MISSING lets aiosmtpd answer as a healthy relay."""

    def __init__(self, endpoint):
        self.endpoint = endpoint

    async def handle_MAIL(self, server, session, envelope, address, options):
        fault = self.endpoint.fault
        return fault.reply() if fault.refuses("mail") else MISSING

    async def handle_RCPT(self, server, session, envelope, address, options):
        fault = self.endpoint.fault
        return fault.reply() if fault.refuses("rcpt", address) else MISSING

    async def handle_DATA(self, server, session, envelope):
        """After the final dot: the one place a message can be taken without the client learning of it."""
        endpoint, fault = self.endpoint, self.endpoint.fault
        name = endpoint.api.name
        if fault.mode in ("hang", "lost", "garbled"):
            endpoint.store.count(name, fault.mode)
            if fault.mode == "garbled":
                return "2x0 garbled"
            if fault.mode == "lost":
                endpoint.record(envelope, envelope.original_content)
                server.transport.close()
            await asyncio.sleep(HANG_LIMIT_S)  # until the client gives up: losing the connection cancels this
            return "421 4.4.2 timed out"
        if fault.refuses("final"):
            endpoint.store.count(name, fault.status)
            return fault.reply()
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)  # sleeps only this connection
            if server.transport is None:
                return "421 4.4.2 gone"  # the client left or the relay stopped meanwhile: nothing was taken
        record = endpoint.record(envelope, envelope.original_content)
        endpoint.store.count(name, 250)
        return f"250 2.0.0 Ok: queued as {record['queue_id']}"


def authenticator(endpoint, user: str, password: str):
    """aiosmtpd's authenticator for one account (AUTH PLAIN and LOGIN): 535 for anything else, and the reply of
    a `refuse` fault at auth (credentials revoked) even for the right ones."""
    expected = (user.encode(), password.encode())

    def authenticate(server, session, envelope, mechanism, auth_data):
        fault = endpoint.fault
        if fault.refuses("auth"):
            return AuthResult(success=False, handled=False, message=fault.reply())
        if (auth_data.login, auth_data.password) == expected:
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)  # handled=True would send no reply at all

    return authenticate
