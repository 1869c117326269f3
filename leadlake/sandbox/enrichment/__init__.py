"""OpenCorporates, People Data Labs and Hunter data derived deterministically from a World.

One module per provider (opencorporates, pdl, hunter); their HTTP protocols live in leadlake.sandbox.routes.
"""

from leadlake.sandbox.enrichment.common import (
    DRIFT_RATE,
    HUNTER,
    LEGAL_SUFFIX_TYPES,
    OPENCORPORATES,
    PDL,
    PDL_INDUSTRY,
    PROVIDERS,
    name_tokens,
    strip_legal_suffix,
    website_domain,
)
from leadlake.sandbox.enrichment.data import EnrichmentData, HasEnrichment, data
from leadlake.sandbox.enrichment.hunter import (
    FIRST_NAMES,
    HUNTER_ACCEPT_ALL,
    HUNTER_COVERAGE,
    LEADERS,
    PATTERNS,
    POSITIONS,
    HunterDataset,
)
from leadlake.sandbox.enrichment.opencorporates import (
    DEFAULT_NEW_SUFFIXES,
    NEW_SUFFIXES,
    OC_DISSOLVED_PREDECESSOR,
    OC_LOOKALIKE,
    OC_OTHER_STATE_TWIN,
    CompanyRegister,
    LegalEntity,
)
from leadlake.sandbox.enrichment.pdl import (
    CATEGORY_TAGS,
    MEDIAN_EMPLOYEES,
    PDL_COVERAGE,
    PDL_NO_CREDITS_KEY,
    PDL_SIZES,
    TECH_TAGS,
    PdlDataset,
    size_bucket,
)

__all__ = [
    "CATEGORY_TAGS",
    "DEFAULT_NEW_SUFFIXES",
    "DRIFT_RATE",
    "FIRST_NAMES",
    "HUNTER",
    "HUNTER_ACCEPT_ALL",
    "HUNTER_COVERAGE",
    "LEADERS",
    "LEGAL_SUFFIX_TYPES",
    "MEDIAN_EMPLOYEES",
    "NEW_SUFFIXES",
    "OC_DISSOLVED_PREDECESSOR",
    "OC_LOOKALIKE",
    "OC_OTHER_STATE_TWIN",
    "OPENCORPORATES",
    "PATTERNS",
    "PDL",
    "PDL_COVERAGE",
    "PDL_INDUSTRY",
    "PDL_NO_CREDITS_KEY",
    "PDL_SIZES",
    "POSITIONS",
    "PROVIDERS",
    "TECH_TAGS",
    "CompanyRegister",
    "EnrichmentData",
    "HasEnrichment",
    "HunterDataset",
    "LegalEntity",
    "PdlDataset",
    "data",
    "name_tokens",
    "size_bucket",
    "strip_legal_suffix",
    "website_domain",
]
