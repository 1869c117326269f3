"""Local stand-in for provider APIs and CRMs, speaking their real protocols over a synthetic world."""

from leadlake.sandbox.crm import CrmStore
from leadlake.sandbox.server import Faults, SandboxKeys, SandboxServer, serve
from leadlake.sandbox.world import Business, City, World

__all__ = ["Business", "City", "CrmStore", "Faults", "SandboxKeys", "SandboxServer", "World", "serve"]
