"""Provider protocols, one module each; a module joins by exporting `PROVIDER` and being listed here.

A route module depends only on leadlake.sandbox.protocol (Request, Response, route, Provider), the
SandboxState protocol and the data it serves (world, index, crm, enrichment) - never on the server.
"""

# The one list of built-in providers, in dispatch order; SandboxKeys and the path prefixes derive from it.
ROUTE_MODULES: tuple[str, ...] = (
    "leadlake.sandbox.routes.google",
    "leadlake.sandbox.routes.yelp",
    "leadlake.sandbox.routes.hubspot",
    "leadlake.sandbox.routes.opencorporates",
    "leadlake.sandbox.routes.pdl",
    "leadlake.sandbox.routes.hunter",
)
