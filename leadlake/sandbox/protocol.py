"""The small request/response model the sandbox's provider routes are written against."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadlake.sandbox.server import SandboxServer


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route's path pattern

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def arg_list(self, name: str) -> list[str]:
        """A list parameter given repeated (`a=1&a=2`) or comma-separated (`a=1,2`)."""
        return [v.strip() for raw in self.query.get(name, []) for v in raw.split(",") if v.strip()]

    def bearer(self) -> str | None:
        """The token of an `Authorization: Bearer` header, if any."""
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What a route answers: a status, a JSON-able body (or raw bytes) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        """The body as bytes."""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


Handler = Callable[["SandboxServer", Request], Response]


@dataclass(frozen=True)
class Route:
    """A provider endpoint: who serves it, how it is named in stats, and whether it writes state."""

    provider: str
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler
    mutating: bool = False
    paged: bool = False


def route(provider: str, method: str, pattern: str, name: str, handler: Handler, **flags: bool) -> Route:
    """Build a Route from a regex path pattern (anchored)."""
    return Route(provider, method, re.compile(f"^{pattern}$"), name, handler, **flags)


def correlation_id() -> str:
    """A fresh HubSpot-style correlation id."""
    return str(uuid.uuid4())
