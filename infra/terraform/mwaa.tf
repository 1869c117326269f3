# Optional: MWAA needs an existing VPC (two private subnets with NAT), which this module does not own.
resource "aws_mwaa_environment" "airflow" {
  count = var.enable_mwaa ? 1 : 0

  name               = local.mwaa_environment_name
  airflow_version    = var.mwaa_airflow_version
  environment_class  = var.mwaa_environment_class
  max_workers        = var.mwaa_max_workers
  execution_role_arn = aws_iam_role.mwaa.arn

  source_bucket_arn      = aws_s3_bucket.lake.arn
  dag_s3_path            = "${local.mwaa_prefix}/dags"
  requirements_s3_path   = var.mwaa_requirements_s3_path
  startup_script_s3_path = var.mwaa_startup_script_s3_path
  webserver_access_mode  = var.mwaa_webserver_access_mode
  airflow_configuration_options = {
    "core.default_timezone" = "utc"
  }

  network_configuration {
    security_group_ids = var.mwaa_security_group_ids
    subnet_ids         = var.mwaa_subnet_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = "WARNING"
    }
    scheduler_logs {
      enabled   = true
      log_level = "WARNING"
    }
    task_logs {
      enabled   = true
      log_level = "INFO"
    }
    webserver_logs {
      enabled   = true
      log_level = "WARNING"
    }
    worker_logs {
      enabled   = true
      log_level = "WARNING"
    }
  }

  lifecycle {
    precondition {
      condition     = length(var.mwaa_subnet_ids) == 2 && length(var.mwaa_security_group_ids) > 0
      error_message = "enable_mwaa = true needs mwaa_subnet_ids (two private subnets) and mwaa_security_group_ids."
    }
  }

  depends_on = [
    aws_iam_role_policy.mwaa,
    aws_s3_bucket_public_access_block.lake,
    aws_s3_bucket_versioning.lake,
  ]
}
