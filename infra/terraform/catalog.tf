resource "aws_glue_catalog_database" "layer" {
  for_each = local.layers

  name         = local.glue_database_names[each.key]
  description  = "leadlake ${var.env} ${each.key} layer (Delta tables under s3://${local.bucket}/${local.lakehouse_prefix}/${each.key}/)"
  location_uri = "s3://${local.bucket}/${local.lakehouse_prefix}/${each.key}/"
}

resource "aws_athena_workgroup" "lake" {
  name          = local.name
  description   = "leadlake ${var.env}: analyst SQL over the gold/silver Delta tables"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${local.bucket}/${local.athena_results_prefix}/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.lake.arn
      }
    }
  }
}
