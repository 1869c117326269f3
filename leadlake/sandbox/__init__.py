"""Local stand-in for provider APIs and CRMs, speaking their real protocols over a synthetic world."""

from leadlake.sandbox.crm import CrmStore
from leadlake.sandbox.enrichment import PDL_NO_CREDITS_KEY, EnrichmentData
from leadlake.sandbox.server import Faults, SandboxKeys, SandboxServer, serve
from leadlake.sandbox.world import Business, City, World

__all__ = [
    "PDL_NO_CREDITS_KEY",
    "Business",
    "City",
    "CrmStore",
    "EnrichmentData",
    "Faults",
    "SandboxKeys",
    "SandboxServer",
    "World",
    "serve",
]
