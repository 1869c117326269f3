"""Spark scoring (mapInPandas, the model shipped as bytes) gives the rows in-process scoring gives."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from ml_support import synthetic_leads

from leadlake.ml.score import SCORE_COLUMNS, SCORE_SCHEMA_DDL, score_frame, spark_scorer
from leadlake.ml.spec import FS1, FS2, FeatureSet
from leadlake.ml.train import fit_scorer

pytestmark = pytest.mark.spark

LEADS_DDL = (
    "lead_id string, rating double, review_count bigint, website string, domain string, phone_e164 string, "
    "phone_is_toll_free boolean, source_count bigint, categories array<string>, vertical string, "
    "distance_km double"
)


@pytest.mark.parametrize("feature_set", [FS1, FS2], ids=lambda fs: fs.version)
def test_spark_map_in_pandas_scores_equal_in_process_scores(spark: Any, feature_set: FeatureSet) -> None:
    """fs2 reads list columns whole (categories): Spark hands them to pandas as numpy arrays."""
    data = synthetic_leads(300, seed=11)
    scorer = fit_scorer(data.leads, data.labels, feature_set)
    leads = data.leads.iloc[:60].copy()
    leads.loc[leads.index[:5], "rating"] = None  # missing values travel through Spark too
    leads.loc[leads.index[5:8], "categories"] = None
    expected = score_frame(scorer, leads, feature_set).sort_values("lead_id").reset_index(drop=True)

    sdf = spark.createDataFrame(leads, schema=LEADS_DDL).repartition(3)
    got = sdf.mapInPandas(spark_scorer(scorer.to_bytes()), schema=SCORE_SCHEMA_DDL).toPandas()
    got = got.sort_values("lead_id").reset_index(drop=True)
    got["score_reasons"] = got["score_reasons"].map(list)

    assert list(got.columns) == SCORE_COLUMNS and len(got) == 60
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["score_reasons"].map(len).min() >= 1
