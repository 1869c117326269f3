"""leadlake: a lead-generation lakehouse."""

from leadlake.observe.logs import install_pii_masking

__version__ = "0.1.0"

# Any process that imports leadlake (CLI, Airflow task, Spark job, notebook) masks PII in its logs.
install_pii_masking()
