"""Accepted messages in one normalized shape for every fake provider, and per-provider request counts."""

import hashlib
import time
from collections import Counter


def new_record(provider: str, *, id: str, probe: bool, sender: str, to: list, cc: list, bcc: list,
               subject, text, html, reply_to, headers: dict, tags: list, attachments: list,
               variables: dict) -> dict:
    """The record tests read back: the same keys whichever provider accepted the message."""
    return {
        "provider": provider, "id": id, "probe": probe, "from": sender,
        "to": to, "cc": cc, "bcc": bcc, "subject": subject, "text": text, "html": html,
        "reply_to": reply_to, "headers": headers, "tags": tags, "attachments": attachments,
        "variables": variables, "received_at": time.time(),
    }


def attachment_info(filename: str, content_type: str | None, data: bytes) -> dict:
    return {"filename": filename, "content_type": content_type, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


class Store:
    """Everything the control API reports; only the event loop thread touches it."""

    def __init__(self, providers):
        self._providers = tuple(providers)
        self.clear()

    def clear(self) -> None:
        self._messages: list[dict] = []
        self._statuses = {name: Counter() for name in self._providers}
        self._connections = Counter()

    def count_connection(self, provider: str) -> None:
        self._connections[provider] += 1

    def count(self, provider: str, outcome: int | str) -> None:
        """Count one request by status code, or by "hang"/"reset" when it got no answer."""
        self._statuses[provider][str(outcome)] += 1

    def add(self, record: dict) -> None:
        self._messages.append(record)

    def messages(self, provider: str | None = None, probe: bool | None = None) -> list[dict]:
        return [m for m in self._messages
                if provider in (None, m["provider"]) and probe in (None, m["probe"])]

    def stats(self) -> dict:
        """Per provider: requests by status, connections accepted, real messages and probes accepted."""
        result = {}
        for name in self._providers:
            accepted = self.messages(name)
            probes = sum(m["probe"] for m in accepted)
            result[name] = {
                "requests": sum(self._statuses[name].values()),
                "by_status": dict(self._statuses[name]),
                "connections": self._connections[name],
                "accepted": len(accepted) - probes,
                "probes": probes,
            }
        return result
