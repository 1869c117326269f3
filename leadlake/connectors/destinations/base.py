"""What every CRM destination offers the delivery stage: a typed Protocol and the shapes it returns.

Each destination says what it sends for a lead (`payload`); delivery hashes that payload to send a lead only
when it changed, and keys each send by (destination, lead, payload hash) (`idempotency_key`). A campaign may
give a destination its own field mapping (`mapping_document`: a YAML file, or inline keys over the default).

`UpsertResult.failures` holds the leads the CRM refused one by one (with the CRM's own message) while the
rest of their batch committed, so the caller dead-letters those and ledgers the others.

A CRM that reports outcomes (what sales did with the leads) also has `pull_feedback(since)` (FeedbackSource);
the feedback stage pulls only those (`reports_outcomes`), and asking any other says so (FeedbackNotSupported).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from leadlake.core.yaml_errors import yaml_error_line


class DeliveryError(RuntimeError):
    """A CRM call that failed after retries; names the destination and the CRM's message.

    `status` is the CRM's HTTP status when it answered with an error (None for a malformed reply or no
    answer at all); `refused` tells a definite no (a 4xx other than 408/429) from a failure worth retrying.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def refused(self) -> bool:
        """The CRM answered and said no: sending the same request again will not change its mind."""
        return self.status is not None and 400 <= self.status < 500 and self.status not in (408, 429)


class MappingError(DeliveryError):
    """The field mapping names a field the CRM object does not have; raised before any write."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400)


@dataclass(frozen=True)
class UpsertResult:
    """CRM object ids for a delivered batch, keyed by lead id, and how many were new.

    `failures`: lead id -> the CRM's message, for leads it refused while the others were written.
    """

    crm_ids: dict[str, str]
    created: int
    updated: int
    created_ids: frozenset[str] = frozenset()  # the leads the CRM created (the rest it updated)
    failures: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Destination(Protocol):
    """A CRM the delivery stage writes gold leads to, idempotently on the lead id; one that reports
    outcomes also has `pull_feedback` (FeedbackSource)."""

    name: str

    def test_connection(self) -> None:
        """Authenticate and reach the CRM's object; raises DeliveryError saying what is wrong."""
        ...

    def describe_fields(self) -> set[str]:
        """The field (property) names the CRM object has."""
        ...

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        """Create or update one CRM object per lead (keyed by `lead_id`); per-lead refusals in `failures`.

        Raises DeliveryError when (part of) the batch could not be delivered after retries; some of it may
        have committed, and re-sending it all is safe: the write is an upsert on the lead id."""
        ...

    def read_back(self, lead_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What the CRM holds for these leads: lead id -> its fields (leads it does not have are absent)."""
        ...

    def payload(self, lead: Mapping[str, Any]) -> Mapping[str, Any]:
        """What this destination sends for `lead` (its mapped fields); delivery hashes it to tell a changed
        lead from an unchanged one and to key the send (`idempotency_key`).

        Default (inherited by a subclass; `payload_of` applies it to a destination without the method):
        the lead's gold columns less the volatile ones, so any content change re-sends the lead."""
        return default_payload(lead)


@runtime_checkable
class FeedbackSource(Protocol):
    """The optional part of a Destination: a CRM that reports what sales did with the leads it received.

    Kept apart from Destination because a runtime Protocol's isinstance needs every member: a file or
    webhook destination is still a Destination. Pull through `pull_feedback_of`, which gives the default
    (FeedbackNotSupported naming the destination) to one without it."""

    name: str

    def pull_feedback(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """The CRM's raw records modified at or after `since` (None: all), oldest change first, each exactly
        as the CRM answered it (with its modified time); raises DeliveryError when the CRM fails."""
        ...


class FeedbackNotSupported(DeliveryError):
    """The destination has no way to report what happened to the leads it received (no `pull_feedback`)."""

    def __init__(self, destination: str) -> None:
        super().__init__(
            f"destination {destination!r} does not report outcomes: it has no pull_feedback, so there is "
            "nothing to pull from it; pull from a CRM destination that does (e.g. --destination hubspot)"
        )
        self.destination = destination


def reports_outcomes(destination: Any) -> bool:
    """Whether a destination (instance or class) has `pull_feedback`, i.e. can be pulled for outcomes."""
    return callable(getattr(destination, "pull_feedback", None))


def pull_feedback_of(destination: Any, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """`destination.pull_feedback(since)`; raises FeedbackNotSupported (naming it) when it has none."""
    if not reports_outcomes(destination):
        raise FeedbackNotSupported(str(getattr(destination, "name", type(destination).__name__)))
    return destination.pull_feedback(since)


# ---- what a destination receives, and how delivery recognises it ------------------------------------------
# Gold columns that change on every scoring run without the lead changing: never part of a payload.
VOLATILE_COLUMNS = frozenset({"scored_at", "model_version", "updated_at", "created_at"})


def default_payload(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of a destination that does not map its own: the lead's gold columns, less the volatile
    ones and delivery's own `_` keys. A change in any such column re-sends the lead (an idempotent upsert)."""
    return {k: _plain(v) for k, v in lead.items() if not k.startswith("_") and k not in VOLATILE_COLUMNS}


def _plain(value: Any) -> Any:
    """numpy/pandas values as plain Python (a numpy array hashes by its items, not its repr)."""
    return value.tolist() if hasattr(value, "tolist") else value


def payload_of(destination: Any, lead: Mapping[str, Any]) -> Mapping[str, Any]:
    """What `destination` sends for `lead`: its own `payload(lead)` when it maps one, else the default."""
    own = getattr(destination, "payload", None)
    return own(lead) if callable(own) else default_payload(lead)


def payload_hash(payload: Mapping[str, Any]) -> str:
    """sha256 of a payload (canonical JSON): a lead is sent again only when its payload's hash changes."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency_key(destination: str, lead_id: str, digest: str) -> str:
    """The key of one (destination, lead, payload hash): the same lead with the same content sent twice (a
    retry, a batch re-sent after a crash) carries the same key, so a receiver can drop the repeat."""
    return hashlib.sha256(f"{destination}\n{lead_id}\n{digest}".encode()).hexdigest()[:32]


def lead_key(destination: Any, lead: Mapping[str, Any], payload: Mapping[str, Any] | None = None) -> str:
    """The idempotency key delivery gave `lead` (its `_idempotency_key`), else the one its payload gives."""
    given = lead.get("_idempotency_key")
    if given:
        return str(given)
    digest = payload_hash(payload if payload is not None else payload_of(destination, lead))
    return idempotency_key(destination.name, str(lead["lead_id"]), digest)


# ---- per-campaign field mappings -------------------------------------------------------------------------
MappingSource = str | Path | Mapping[str, Any] | None


def mapping_document(source: MappingSource, default: Path, what: str) -> dict[str, Any]:
    """A mapping document: the default file (None), a YAML file (a path), or the default with an inline
    mapping's keys laid over it (a mapping: its field maps merged per field, a field set to null dropped).

    Raises MappingError naming the file or key that is wrong."""
    base = _yaml_mapping(default, what)
    if source is None:
        return base
    if isinstance(source, str | Path):
        return _yaml_mapping(Path(source), what)
    if not isinstance(source, Mapping):
        raise MappingError(f"a {what} mapping is a YAML file path or an inline mapping, got {source!r}")
    doc = dict(base)
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(doc.get(key), Mapping):
            merged = {**doc[key], **value}
            doc[key] = {k: v for k, v in merged.items() if v is not None}
        else:
            doc[key] = value
    return doc


def _yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{what} mapping file {path}: cannot read it: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{what} mapping file {path}: {yaml_error_line(exc)}") from None
    if not isinstance(doc, Mapping):
        raise MappingError(f"{what} mapping file {path}: expected a mapping of fields at the top level")
    return dict(doc)


def check_campaign_mappings(spec: Any, source: str, destination_class: Callable[[str], Any]) -> None:
    """Every mapping a campaign gives its destinations loads with that destination's rules; raises
    CampaignError naming `destinations[i].mapping`, what is wrong and the fix.

    `destination_class(type)` is the destination's class (the registry's `connector(type).load()`)."""
    from leadlake.core.campaign import CampaignError

    for i, dest in enumerate(spec.destinations):
        if dest.mapping is None:
            continue
        where = f"{source}: field 'destinations[{i}].mapping' ({dest.type})"
        cls = destination_class(dest.type)
        load = getattr(cls, "load_mapping", None)
        if not callable(load) or not callable(getattr(cls, "with_mapping", None)):
            raise CampaignError(
                f"{where}: {dest.type} does not take a per-campaign field mapping yet; remove `mapping` "
                f"(it uses its default mapping)"
            )
        try:
            load(dest.mapping)
        except (MappingError, ValueError) as exc:
            raise CampaignError(
                f"{where}: {exc}; fix the mapping (the defaults under "
                "leadlake/connectors/destinations/mappings/ show its shape)"
            ) from None
