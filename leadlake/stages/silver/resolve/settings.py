"""Entity-resolution settings as data, and the column shapes the resolve modules pass to each other.

A leaf module: prepare, link, cluster and golden all read it, it reads none of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

# Columns the Splink model sees (plus ResolveSettings.extra_columns and batch_new); everything else is
# pass-through for build_leads.
MODEL_COLUMNS = [
    "record_id", "provider", "name_norm", "name_sorted", "name_prefix", "name_phonetic", "name_token",
    "phone_key", "domain_key", "website_key", "address_norm", "address_number", "street_key", "city_key",
    "postal", "postal3", "lat", "lon", "geo_lat", "geo_lon", "geo_cell", "geo_cell_coarse",
]  # fmt: skip
# lat, lon: where a record is said to be (the distance veto, blocking); geo_lat, geo_lon: the same without
# geocoders' fallback points (prepare.placeholder_points), what the geo comparison weighs.
FLOAT_COLUMNS = ("lat", "lon", "geo_lat", "geo_lon")

# The record columns resolve() reads; anything else is ignored unless named in extra_columns.
KNOWN_COLUMNS = (
    "record_id", "provider", "name", "name_norm", "phone_e164", "phone_is_toll_free", "website", "domain",
    "address_line1", "city", "postal", "lat", "lon",
)  # fmt: skip

# A scored or deterministic link between two records, record_id_l < record_id_r, and why it matched.
PAIR_COLUMNS = ["record_id_l", "record_id_r", "match_probability", "match_rule"]


@dataclass(frozen=True)
class ComparisonSpec:
    """One Splink comparison as data: kind, columns, thresholds and the m/u priors of its levels.

    Kinds: "exact"; "exact_cascade" (exact on each column in turn); "jaro_winkler" (exact, then each
    threshold); "name" (exact on the first column, exact on the second (word order ignored), then each
    Jaro-Winkler threshold on either column); "street" (street line, house number: exact, then each
    threshold with no house numbers against it, then two unlike house numbers); "distance_km" (lat, lon)."""

    name: str
    kind: str
    columns: tuple[str, ...]
    thresholds: tuple[float, ...] = ()
    m_priors: tuple[float, ...] = ()  # non-null levels, most similar first, ELSE last
    u_priors: tuple[float, ...] = ()
    term_frequency: bool = False


# Priors follow the tech spec's ER weight ordering (19.2): domain > phone > name+address > geo < 50 m
# with a similar name > fuzzy name (Jaro-Winkler > 0.92). EM replaces the m values when it can train.
DEFAULT_COMPARISONS: tuple[ComparisonSpec, ...] = (
    ComparisonSpec(
        "name", "name", ("name_norm", "name_sorted"), (0.92, 0.80),
        m_priors=(0.62, 0.08, 0.17, 0.08, 0.05), u_priors=(0.001, 0.0002, 0.004, 0.03, 0.9648),
        term_frequency=True,
    ),
    ComparisonSpec(
        "phone", "exact", ("phone_key",), m_priors=(0.80, 0.20), u_priors=(0.0002, 0.9998),
        term_frequency=True,
    ),
    ComparisonSpec(
        "website", "exact_cascade", ("website_key", "domain_key"),
        m_priors=(0.60, 0.30, 0.10), u_priors=(0.00005, 0.0001, 0.99985),
    ),
    ComparisonSpec(
        "address", "street", ("address_norm", "address_number"), (0.92,),
        m_priors=(0.70, 0.22, 0.06, 0.02), u_priors=(0.0005, 0.005, 0.95, 0.0445),
    ),
    ComparisonSpec("city", "jaro_winkler", ("city_key",), (0.92,),
                   m_priors=(0.85, 0.08, 0.07), u_priors=(0.05, 0.01, 0.94)),
    ComparisonSpec("postal", "exact", ("postal",), m_priors=(0.95, 0.05), u_priors=(0.08, 0.92)),
    ComparisonSpec(
        "geo", "distance_km", ("geo_lat", "geo_lon"), (0.05, 0.15, 1.0),
        m_priors=(0.75, 0.20, 0.04, 0.01), u_priors=(0.0002, 0.001, 0.02, 0.9788),
    ),
)  # fmt: skip


def extra_comparison(column: str) -> ComparisonSpec:
    """The comparison an extra identifier column (date of birth, tax id) gets: exact, near, else."""
    return ComparisonSpec(
        column, "jaro_winkler", (column,), (0.92,), m_priors=(0.85, 0.10, 0.05), u_priors=(0.001, 0.01, 0.989)
    )


@dataclass(frozen=True)
class ResolveSettings:
    """Entity-resolution settings as data; the backend is one of them, the model is the same on both."""

    match_threshold: float = 0.9
    backend: str = "duckdb"  # "duckdb" | "spark"
    # "auto": dedupe_only with one provider, else link_and_dedupe (providers do list a place twice).
    link_type: str = "auto"
    comparisons: tuple[ComparisonSpec, ...] = DEFAULT_COMPARISONS
    # Extra identifier columns of the records (date_of_birth, tax_id): each is compared (exact, then
    # Jaro-Winkler) and blocked on.
    extra_columns: tuple[str, ...] = ()
    # An extra column identifies when few records share each value: a tax id or a birth date, not a
    # status or a star rating. One whose shared values pair more than this many times the records (on
    # average) is left out: blocking on it pairs most of the input (20k records with an open/closed flag:
    # 10 GB and 2 minutes instead of 3 s), and agreeing on it says nothing.
    max_extra_pairs_per_record: float = 10.0
    # And the entity's, not the record's: a CRM export's create date or owner is unique enough, but two
    # records of one business do not share it. An extra column is left out when, of the pairs that are
    # surely duplicates (deterministic_pairs: one website, domain or phone and a like name) with a value
    # on both records, fewer than this share agree on it; judged on at least min_sure_pairs such pairs.
    min_extra_agreement: float = 0.5
    min_sure_pairs: int = 20
    # And it names the entity, not a place or an organisation it belongs to: of the records that share a
    # value of it, most must have like names (a tax id, a date of birth: 0.7-0.96 on Febrl and Splink's
    # people), or the column is a neighbourhood, an agency's shared email or a programme (0.03-0.14 in
    # dedupe's Chicago early-childhood sites), whose agreement would also outvote unlike names. Judged on
    # a sample of up to extra_name_sample pairs sharing a value, when min_sure_pairs of them have names.
    min_extra_like_names: float = 0.5
    # Nor a group of places: of the records sharing a value that give a street address, at least this
    # share must be at one door (house number and street). A person's date of birth or tax id: 0.53-0.67
    # on Febrl, whose duplicates mistype their addresses; an agency's director or website across its
    # sites in dedupe's Chicago example: 0.0. Lead-gen keeps a chain's branches apart, so a chain's id too.
    min_extra_same_door: float = 0.2
    extra_name_sample: int = 20_000
    # Candidate pairs: any one rule puts a pair up for scoring (Splink dedupes across rules). Exact keys,
    # then near misses: word order, phonetic name, a name token within a postcode, a name near a place (its
    # sorted words' prefix within ~5 km, its longest word within ~1 km: "dds" sorts before "dentistry").
    # A name or domain alone is not a block: a chain's 500 branches would make 125,000 pairs. Nor is a
    # ~1 km cell alone: at 183k records it made 81% of the 819k candidate pairs and added no match the
    # other rules miss (sandbox F1 0.954 and scale F1 0.942 either way), a near name nearby is enough.
    blocking_rules: tuple[tuple[str, ...], ...] = (
        ("phone_key",), ("domain_key", "postal3"), ("domain_key", "city_key"), ("name_norm", "postal3"),
        ("name_norm", "city_key"), ("postal", "address_norm"), ("name_sorted", "postal3"),
        ("postal", "name_token"), ("name_phonetic", "postal3"), ("geo_cell_coarse", "name_prefix"),
        ("address_norm", "name_phonetic"), ("address_number", "postal", "name_phonetic"), ("street_key",),
        ("geo_cell", "name_token"),
    )  # fmt: skip
    # A rule's key more records share than this (a switchboard phone, a placeholder address, a chain's name
    # in its town) makes no candidate pairs by that rule: its n^2/2 pairs are nearly all different
    # businesses (20k records, 6,000 of them on one phone: 18M pairs, 24 s and 1.6 GB instead of 3 s; at
    # 180k, out of memory). Its records still meet by the other rules. None: no cap.
    max_block_size: int | None = 500
    # Deterministic rules: a shared key AND a similar name (and no address or place saying otherwise)
    # links outright; a key without a name is only evidence for the model.
    deterministic_rules: tuple[tuple[str, ...], ...] = (
        ("website_key",),
        ("domain_key",),
        ("phone_local_key",),
    )
    deterministic_min_name_similarity: float = 0.88  # Jaro-Winkler of the names (either word order)
    deterministic_max_km: float = 0.25  # further apart than this: the model decides, not the key
    # No link, deterministic or scored, between records whose coordinates are further apart than this.
    max_match_km: float | None = 2.0
    # A point (exact lat, lon) given to records at this many different street addresses is a geocoder's
    # fallback (a city's or a postcode's centre), not a place: two records there are not "0 m apart" for
    # the geo comparison (geo_lat/geo_lon are empty). The veto still reads the point. None: off.
    placeholder_point_min_addresses: int | None = 3
    training: str = "em"  # "em" (u by sampling, m by EM, priors as fallback) | "priors"
    # EM blocks on one identifier to learn the others. A name only within a ~1 km cell: a name within a
    # town is mostly a chain's branches, and EM then learns the chain (same name, domain and city) as
    # "the match", with other phones and streets as no evidence against it (precision 0.987 at 165k).
    em_blocking_rules: tuple[tuple[str, ...], ...] = (
        ("phone_key",), ("postal", "address_norm"), ("name_norm", "geo_cell"),
    )  # fmt: skip
    min_records_for_em: int = 200  # below this EM is noise: use the priors
    em_max_pairs: int = 100_000  # an EM rule with more pairs trains on a seeded sample of about this many
    # An extra column's EM session needs this many pairs sharing its value: an export's 20 columns would
    # otherwise each cost a session (~0.4 s), most of them on a few pairs that say nothing.
    em_min_extra_pairs: int = 100
    u_max_pairs: float = 5e5  # ~1 s on DuckDB for 7k records; u of rare levels is stable from here
    u_num_chunks: int = 1
    m_floor: float = 0.01  # see link.regularize()
    seed: int = 42
    # Prior odds: share of the smaller provider's records with a twin in another, and share of records
    # that duplicate another record of the same source.
    expected_overlap: float = 0.6
    expected_duplicate_share: float = 0.05
    # The prior is estimated from strict rules (name + another identifier), then kept within this factor
    # of the expected-overlap prior; EM never moves it.
    prior_max_factor: float = 30.0
    # The prior never exceeds this: on a handful of records "5% are duplicates" would make it ~0.1/n, and
    # two different businesses at one address would merge on place alone. Binds below ~50 records only.
    max_prior: float = 2e-3
    # A scored pair with names this unlike needs an identifier (website, domain, extra id) to agree.
    min_name_similarity: float = 0.80
    geo_cell_degrees: float = 0.01
    geo_cell_coarse_degrees: float = 0.05
    one_record_per_provider: bool = False
    # Clustering: a link joins two clusters only when at least this share of their cross pairs are links.
    cluster_min_link_share: float = 0.3
    # Two clusters do not join when one source lists them at two doors and another source confirms each:
    # a chain's branches, however alike their name, phone and website (cluster._branches_apart).
    branches_by_door: bool = True
    # No scored link between records at two doors (resolution.veto_two_doors): a chain's branches share a
    # name, a website and often a phone, and without coordinates nothing else tells them apart.
    veto_two_doors: bool = True
    # Term frequencies kept in the model: values used at least this often (rarer ones take the base u).
    tf_min_count: int = 2
    duckdb_threads: int | None = None  # None: one per core (DuckDB's default)
    spark_partitions: int = 4
    spark_break_lineage: str = "persist"
    splink_log_level: int = logging.ERROR  # EM warns about unobserved levels on small data: noise here
