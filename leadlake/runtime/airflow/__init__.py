"""Airflow: DAGs built from the stage registry, Assets from the catalog, and this machine's Airflow.

dags.py        stage_dag(): one task per stage (per provider when it fans out), tables as Assets
local.py       one Airflow home per lakehouse: airflow.cfg, migrations, pools, DAG sync, asset activation,
               in-process runs with dag.test() (what `leadlake demo` does)
standalone.py  api-server, scheduler, dag-processor and triggerer on 127.0.0.1 (`leadlake airflow`)
tasklog.py     task log files for in-process runs, where Airflow writes none
"""
