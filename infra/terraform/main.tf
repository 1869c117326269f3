locals {
  name      = "${var.name_prefix}-${var.env}"
  partition = data.aws_partition.current.partition
  # Taken from the key ARN rather than data.aws_caller_identity, which would call STS at plan time.
  account_id = element(split(":", aws_kms_key.lake.arn), 4)

  bucket     = aws_s3_bucket.lake.id
  bucket_arn = aws_s3_bucket.lake.arn

  # Key prefixes inside the lake bucket; each has one reader/writer story in iam.tf.
  lakehouse_prefix      = var.lakehouse_prefix
  artifacts_prefix      = "artifacts"
  emr_logs_prefix       = "emr-logs"
  athena_results_prefix = "athena-results"
  mwaa_prefix           = "mwaa"

  layers = toset(["bronze", "silver", "gold"])

  # Secret *containers* only: values are set out of band (see README), never in state.
  secret_names = toset(["google_places", "yelp", "hubspot", "salesforce"])

  glue_database_names = { for layer in local.layers : layer => replace("${local.name}_${layer}", "-", "_") }
}
