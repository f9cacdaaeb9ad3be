"""The faults an SMTP relay can show, switched at run time through the control API."""

from dataclasses import dataclass

from .server import FaultError, checked_mode

PHASES = ("auth", "mail", "rcpt", "data", "final")  # where a `refuse` fault answers; final: the reply to the dot
# Which parameters each mode takes besides "mode".
FAULT_PARAMS = {
    "ok": {"latency_ms"},  # a slow reply to the final dot
    "stopped": set(),  # refuse connections
    "greeting": {"status", "text"},  # greet with this reply instead of 220, then close (open sessions end)
    # This 4xx/5xx at one phase (rcpt: only `recipients`; auth: open sessions end, as when credentials are revoked).
    "refuse": {"at", "status", "text", "recipients"},
    "hang": set(),  # read the message, never answer the final dot
    "lost": set(),  # accept and record the message, then drop the connection before replying
    "garbled": set(),  # answer the final dot with a line that is not an SMTP reply
    "drop_in_data": set(),  # answer DATA with 354, then drop the connection without reading the message
}


@dataclass(frozen=True)
class SmtpFault:
    mode: str = "ok"
    at: str | None = None
    status: int | None = None
    text: str | None = None
    recipients: tuple[str, ...] = ()
    latency_ms: float = 0

    @classmethod
    def parse(cls, params: dict) -> "SmtpFault":
        """Build a fault from the control API's JSON, refusing anything unknown or ill-typed."""
        mode = checked_mode(params, FAULT_PARAMS)
        status, at, text = params.get("status"), params.get("at"), params.get("text")
        if mode in ("greeting", "refuse") and not (type(status) is int and 400 <= status <= 599):
            raise FaultError("status must be an integer from 400 to 599")
        if mode == "refuse" and at not in PHASES:
            raise FaultError(f"at must be one of {', '.join(PHASES)}")
        if text is not None and not (isinstance(text, str) and text.isprintable()):
            raise FaultError("text must be one line of printable characters")
        recipients = params.get("recipients", [])
        if recipients and at != "rcpt" or not all(isinstance(r, str) for r in recipients):
            raise FaultError("recipients must be a list of addresses, for at=rcpt only")
        latency = params.get("latency_ms", 0)
        if type(latency) not in (int, float) or latency < 0:
            raise FaultError("latency_ms must be a number >= 0")
        return cls(mode, at, status, text, tuple(recipients), latency)

    def describe(self) -> dict:
        """The parameters that matter for this mode, as the control API reports them."""
        values = {"at": self.at, "status": self.status, "text": self.text, "recipients": list(self.recipients),
                  "latency_ms": self.latency_ms}
        return {"mode": self.mode, **{k: v for k, v in values.items() if k in FAULT_PARAMS[self.mode]}}

    def refuses(self, phase: str, recipient: str | None = None) -> bool:
        return (self.mode == "refuse" and self.at == phase
                and (not self.recipients or recipient in self.recipients))

    def reply(self) -> str:
        """The reply line of a greeting or refuse fault: its status, then its text or an enhanced code X.0.0."""
        return f"{self.status} {self.text or f'{self.status // 100}.0.0 refused by the fake relay'}"
