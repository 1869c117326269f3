"""Local stand-in for provider APIs and CRMs, speaking their real protocols over a synthetic world.

Imports point down: server -> admin, registry -> routes -> protocol, state -> enrichment, index, crm -> world.
"""

from leadlake.sandbox.crm import CrmStore
from leadlake.sandbox.enrichment import PDL_NO_CREDITS_KEY, EnrichmentData
from leadlake.sandbox.faults import Faults
from leadlake.sandbox.protocol import Provider, Request, Response, Route, route
from leadlake.sandbox.registry import Registry, SandboxKeys
from leadlake.sandbox.server import SandboxServer, serve
from leadlake.sandbox.state import SandboxState
from leadlake.sandbox.world import Business, City, World

__all__ = [
    "PDL_NO_CREDITS_KEY",
    "Business",
    "City",
    "CrmStore",
    "EnrichmentData",
    "Faults",
    "Provider",
    "Registry",
    "Request",
    "Response",
    "Route",
    "SandboxKeys",
    "SandboxServer",
    "SandboxState",
    "World",
    "route",
    "serve",
]
