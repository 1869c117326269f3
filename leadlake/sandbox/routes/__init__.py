"""Provider protocols, one module each; a module joins by exporting `PROVIDER` and being listed here.

Route modules import protocol, state and the data they serve (world, index, crm, enrichment), not the server.
"""

# The one list of built-in providers, in dispatch order; SandboxKeys and the path prefixes derive from it.
ROUTE_MODULES: tuple[str, ...] = (
    "leadlake.sandbox.routes.google",
    "leadlake.sandbox.routes.yelp",
    "leadlake.sandbox.routes.hubspot",
    "leadlake.sandbox.routes.opencorporates",
    "leadlake.sandbox.routes.pdl",
    "leadlake.sandbox.routes.hunter",
    "leadlake.sandbox.routes.salesforce",
)
