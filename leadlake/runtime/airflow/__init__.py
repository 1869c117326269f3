"""Airflow: DAGs built from the stage registry, Assets from the catalog, local in-process runs."""
