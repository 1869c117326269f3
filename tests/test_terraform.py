"""The AWS home: real terraform fmt/init/validate/plan, offline, against the provider mirror."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.skips import find_mirror

TF_DIR = Path(__file__).resolve().parent.parent / "infra" / "terraform"
PROVIDER_OVERRIDE = """\
provider "aws" {
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}
"""
CLI_CONFIG = """\
provider_installation {
  filesystem_mirror {
    path    = "MIRROR"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
"""
MWAA_VARS = [
    "-var=enable_mwaa=true",
    '-var=mwaa_subnet_ids=["subnet-0aaa","subnet-0bbb"]',
    '-var=mwaa_security_group_ids=["sg-0ccc"]',
]
# Only the tests marked requires_terraform need terraform and the provider mirror (support.skips.find_mirror);
# without them they fail, or skip when LEADLAKE_TEST_ALLOW_SKIP lists `terraform`. They run terraform
# init/plan in subprocesses (tens of seconds each), so they are also marked slow: out of the fast lane.


def _tf(workdir: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run terraform in workdir; on failure the assertion shows terraform's own output."""
    proc = subprocess.run(
        [shutil.which("terraform") or "terraform", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, f"terraform {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def tf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A throwaway copy of infra/terraform, initialised offline from the mirror."""
    root = tmp_path_factory.mktemp("tf")
    work = root / "terraform"
    shutil.copytree(
        TF_DIR, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl")
    )
    (work / "test_provider_override.tf").write_text(PROVIDER_OVERRIDE)
    cli_config = root / "terraform.rc"
    cli_config.write_text(CLI_CONFIG.replace("MIRROR", str(find_mirror())))
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",  # no version check call to checkpoint-api.hashicorp.com
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.pop("AWS_PROFILE", None)
    _tf(work, env, "init", "-backend=false", "-no-color")
    return work, env


def _plan(work: Path, env: dict[str, str], name: str, *args: str) -> dict:
    _tf(work, env, "plan", "-refresh=false", "-no-color", f"-out={name}", *args)
    return json.loads(_tf(work, env, "show", "-json", name).stdout)


def _resources(plan: dict) -> list[dict]:
    return plan["planned_values"]["root_module"]["resources"]


def _one(plan: dict, rtype: str) -> dict:
    found = [r["values"] for r in _resources(plan) if r["type"] == rtype]
    assert len(found) == 1, f"expected one {rtype}, found {len(found)}"
    return found[0]


def test_repo_has_no_terraform_state() -> None:
    """Needs no terraform: a state file or .terraform folder must never be committed."""
    leftovers = [p for p in TF_DIR.rglob("*") if p.name == ".terraform" or ".tfstate" in p.name]
    assert not leftovers, f"state or .terraform left in the repo: {leftovers}"


@pytest.mark.requires_terraform
@pytest.mark.slow
def test_fmt_check_and_validate(tf: tuple[Path, dict[str, str]]) -> None:
    work, env = tf
    fmt = _tf(work, env, "fmt", "-check", "-recursive", check=False)
    assert fmt.returncode == 0, f"terraform fmt -check lists unformatted files:\n{fmt.stdout}"
    out = json.loads(_tf(work, env, "validate", "-json").stdout)
    assert out["valid"] is True and out["warning_count"] == 0, out


@pytest.mark.requires_terraform
@pytest.mark.slow
def test_plan_dev_creates_the_lake(tf: tuple[Path, dict[str, str]]) -> None:
    work, env = tf
    plan = _plan(work, env, "dev.plan", "-var-file=examples/dev.tfvars")
    types = {r["type"] for r in _resources(plan)}
    expected = {
        "aws_s3_bucket", "aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block", "aws_s3_bucket_lifecycle_configuration", "aws_kms_key",
        "aws_kms_alias", "aws_iam_role", "aws_iam_role_policy", "aws_secretsmanager_secret",
        "aws_emrserverless_application", "aws_glue_catalog_database", "aws_athena_workgroup",
    }  # fmt: skip
    assert expected <= types, f"missing: {expected - types}"
    assert "aws_mwaa_environment" not in types, "MWAA must be off by default"

    sse = _one(plan, "aws_s3_bucket_server_side_encryption_configuration")
    rule = sse["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert rule["sse_algorithm"] == "aws:kms"
    assert _one(plan, "aws_kms_key")["enable_key_rotation"] is True
    pab = _one(plan, "aws_s3_bucket_public_access_block")
    assert all(pab[k] for k in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
    assert pab["restrict_public_buckets"] is True
    assert _one(plan, "aws_s3_bucket_versioning")["versioning_configuration"][0]["status"] == "Enabled"

    rules = {r["id"]: r for r in _one(plan, "aws_s3_bucket_lifecycle_configuration")["rule"]}
    bronze = rules["bronze-raw-expiry"]
    assert bronze["filter"][0]["prefix"] == "lakehouse/bronze/"
    assert bronze["expiration"][0]["days"] == 90  # examples/dev.tfvars

    secrets = sorted(
        r["values"]["name"] for r in _resources(plan) if r["type"] == "aws_secretsmanager_secret"
    )
    assert secrets == [f"leadlake/dev/{s}" for s in ("google_places", "hubspot", "salesforce", "yelp")]
    assert not any(r["type"] == "aws_secretsmanager_secret_version" for r in _resources(plan))

    emr = _one(plan, "aws_emrserverless_application")
    assert emr["type"] == "spark" and emr["release_label"] == "emr-7.9.0"
    dbs = sorted(r["values"]["name"] for r in _resources(plan) if r["type"] == "aws_glue_catalog_database")
    assert dbs == ["leadlake_dev_bronze", "leadlake_dev_gold", "leadlake_dev_silver"]
    athena = _one(plan, "aws_athena_workgroup")["configuration"][0]["result_configuration"][0]
    assert athena["encryption_configuration"][0]["encryption_option"] == "SSE_KMS"

    roles = {r["values"]["name"] for r in _resources(plan) if r["type"] == "aws_iam_role"}
    assert roles == {"leadlake-dev-emr-job", "leadlake-dev-mwaa"}
    outputs = plan["planned_values"]["outputs"]
    assert {"lakehouse_uri", "lake_bucket", "emr_application_id", "emr_job_role_arn"} <= outputs.keys()
    assert outputs["glue_databases"]["value"]["gold"] == "leadlake_dev_gold"


@pytest.mark.requires_terraform
@pytest.mark.slow
def test_plan_with_mwaa_enabled(tf: tuple[Path, dict[str, str]]) -> None:
    work, env = tf
    plan = _plan(work, env, "mwaa.plan", "-var=env=staging", *MWAA_VARS)
    mwaa = _one(plan, "aws_mwaa_environment")
    assert mwaa["name"] == "leadlake-staging-airflow" and mwaa["dag_s3_path"] == "mwaa/dags"
    assert mwaa["network_configuration"][0]["subnet_ids"] == ["subnet-0aaa", "subnet-0bbb"]


@pytest.mark.requires_terraform
@pytest.mark.slow
def test_invalid_inputs_are_rejected_before_any_api_call(tf: tuple[Path, dict[str, str]]) -> None:
    work, env = tf
    bad_env = _tf(work, env, "plan", "-refresh=false", "-no-color", "-var=env=qa", check=False)
    assert bad_env.returncode != 0 and "env must be one of dev, staging, prod" in bad_env.stderr
    no_vpc = _tf(
        work, env, "plan", "-refresh=false", "-no-color", "-var=env=dev", "-var=enable_mwaa=true", check=False
    )
    assert no_vpc.returncode != 0 and "needs mwaa_subnet_ids" in no_vpc.stderr.replace("\n", " ")
