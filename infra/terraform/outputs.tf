output "lake_bucket" {
  description = "Name of the lake bucket."
  value       = aws_s3_bucket.lake.id
}

output "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.lake.arn
}

output "lakehouse_uri" {
  description = "Value for LEADLAKE_LAKEHOUSE_URI."
  value       = "s3://${aws_s3_bucket.lake.id}/${local.lakehouse_prefix}"
}

output "artifacts_uri" {
  description = "Where CI uploads jobs/*.py, the leadlake wheel/zip and jars for spark-submit on EMR Serverless."
  value       = "s3://${aws_s3_bucket.lake.id}/${local.artifacts_prefix}"
}

output "emr_logs_uri" {
  description = "S3 log destination to pass in StartJobRun's monitoringConfiguration."
  value       = "s3://${aws_s3_bucket.lake.id}/${local.emr_logs_prefix}/"
}

output "kms_key_arn" {
  description = "ARN of the customer KMS key of the lake, Athena results and secrets."
  value       = aws_kms_key.lake.arn
}

output "kms_alias" {
  description = "Alias of the lake KMS key."
  value       = aws_kms_alias.lake.name
}

output "emr_application_id" {
  description = "EMR Serverless application id (--application-id of aws emr-serverless start-job-run)."
  value       = aws_emrserverless_application.spark.id
}

output "emr_job_role_arn" {
  description = "Execution role ARN for EMR Serverless job runs (--execution-role-arn)."
  value       = aws_iam_role.emr_job.arn
}

output "mwaa_execution_role_arn" {
  description = "MWAA execution role ARN."
  value       = aws_iam_role.mwaa.arn
}

output "mwaa_webserver_url" {
  description = "Airflow UI URL, or null when enable_mwaa is false."
  value       = var.enable_mwaa ? aws_mwaa_environment.airflow[0].webserver_url : null
}

output "mwaa_dags_uri" {
  description = "Where the dags/ folder is synced for MWAA."
  value       = "s3://${aws_s3_bucket.lake.id}/${local.mwaa_prefix}/dags"
}

output "glue_databases" {
  description = "Glue Data Catalog database per layer."
  value       = { for layer, db in aws_glue_catalog_database.layer : layer => db.name }
}

output "athena_workgroup" {
  description = "Athena workgroup for analysts (results encrypted with the lake key)."
  value       = aws_athena_workgroup.lake.name
}

output "secret_arns" {
  description = "Secrets Manager secret ARNs, by provider/CRM; set their values out of band."
  value       = { for k, s in aws_secretsmanager_secret.provider : k => s.arn }
}

output "leadlake_env" {
  description = "LEADLAKE_* environment for Airflow workers and EMR jobs (spark.emr-serverless.driverEnv.*)."
  value = {
    LEADLAKE_LAKEHOUSE_URI = "s3://${aws_s3_bucket.lake.id}/${local.lakehouse_prefix}"
    LEADLAKE_S3_REGION     = var.aws_region
  }
}
