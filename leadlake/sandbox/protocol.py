"""The small request/response model provider routes are written against, and what a route module registers."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from leadlake.sandbox.state import SandboxState


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

    def int_arg(self, name: str, default: int) -> int | None:
        """An integer query parameter; `default` when absent or empty, None when it is not an integer."""
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            return None

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


Handler = Callable[[SandboxState, Request], Response]


@dataclass(frozen=True)
class Route:
    """A provider endpoint: who serves it, how it is named in stats, and whether it writes state."""

    provider: str
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler
    mutating: bool = False  # a faulted (malformed) answer must then skip the handler: no side effect
    paged: bool = False


def route(provider: str, method: str, pattern: str, name: str, handler: Handler, **flags: bool) -> Route:
    """Build a Route from a regex path pattern (anchored)."""
    return Route(provider, method, re.compile(f"^{pattern}$"), name, handler, **flags)


def correlation_id() -> str:
    """A fresh HubSpot-style correlation id."""
    return str(uuid.uuid4())


def generic_error(status: int, message: str) -> Response:
    """A plain `{"error": {"code", "message"}}` body, for providers without an error shape of their own."""
    return Response(status, {"error": {"code": status, "message": message}})


def _rate_limited() -> Response:
    return generic_error(429, "Too many requests.")


def _unavailable(code: int) -> Response:
    return generic_error(code, "The service is temporarily unavailable.")


def _not_found(req: Request) -> Response:
    return generic_error(404, f"Unknown path {req.method} {req.path}")


@dataclass(frozen=True)
class Provider:
    """What a route module registers as `PROVIDER`: name, path prefix, sandbox key, routes and error shapes.

    Routes live under `prefix`; faults and unknown paths there get this provider's shapes, as the real API's.
    """

    name: str  # also the SandboxKeys attribute holding its key, e.g. SandboxKeys().yelp
    prefix: str
    routes: tuple[Route, ...]
    key: str | None = None  # the credential the sandbox accepts by default (fake; printing it is fine)
    max_results: int | None = None  # the real API's cap on one search's results, when it has one
    rate_limited: Callable[[], Response] = _rate_limited
    unavailable: Callable[[int], Response] = _unavailable
    error_codes: tuple[int, ...] = (500, 503)  # the 5xx statuses a fault draws from
    not_found: Callable[[Request], Response] = _not_found
