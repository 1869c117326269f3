locals {
  lakehouse_objects_arn = "${local.bucket_arn}/${local.lakehouse_prefix}/*"
  mwaa_environment_name = "${local.name}-airflow"
  mwaa_environment_arn  = "arn:${local.partition}:airflow:${var.aws_region}:${local.account_id}:environment/${local.mwaa_environment_name}"
  glue_catalog_arn      = "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:catalog"
  glue_database_arns    = [for db in aws_glue_catalog_database.layer : db.arn]
  glue_table_arns = [
    for name in values(local.glue_database_names) :
    "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:table/${name}/*"
  ]
  lake_kms_actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
}

# ---------------------------------------------------------------- EMR Serverless job execution role

data "aws_iam_policy_document" "emr_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }

    # Confused-deputy guard: only this account's leadlake application may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_emrserverless_application.spark.arn]
    }
  }
}

resource "aws_iam_role" "emr_job" {
  name               = "${local.name}-emr-job"
  description        = "leadlake ${var.env} Spark jobs on EMR Serverless: read/write the lakehouse prefix only"
  assume_role_policy = data.aws_iam_policy_document.emr_assume.json
}

data "aws_iam_policy_document" "emr_job" {
  statement {
    sid       = "ListLakePrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.lakehouse_prefix}/*", local.lakehouse_prefix,
        "${local.artifacts_prefix}/*", "${local.emr_logs_prefix}/*",
      ]
    }
  }

  statement {
    sid       = "BucketLocation"
    actions   = ["s3:GetBucketLocation"]
    resources = [local.bucket_arn]
  }

  statement {
    sid       = "ReadWriteLakehouse"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [local.lakehouse_objects_arn]
  }

  statement {
    sid       = "ReadJobArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/${local.artifacts_prefix}/*"]
  }

  statement {
    sid       = "WriteSparkLogs"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/${local.emr_logs_prefix}/*"]
  }

  statement {
    sid       = "LakeKey"
    actions   = local.lake_kms_actions
    resources = [aws_kms_key.lake.arn]
  }

  statement {
    sid = "GlueCatalogLeadlakeDatabases"
    actions = [
      "glue:GetDatabase", "glue:GetDatabases",
      "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable",
      "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
      "glue:CreatePartition", "glue:BatchCreatePartition", "glue:UpdatePartition", "glue:DeletePartition",
      "glue:BatchDeletePartition",
    ]
    resources = concat([local.glue_catalog_arn], local.glue_database_arns, local.glue_table_arns)
  }
}

resource "aws_iam_role_policy" "emr_job" {
  name   = "lakehouse-access"
  role   = aws_iam_role.emr_job.id
  policy = data.aws_iam_policy_document.emr_job.json
}

# ---------------------------------------------------------------- MWAA execution role

data "aws_iam_policy_document" "mwaa_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "mwaa" {
  name               = "${local.name}-mwaa"
  description        = "leadlake ${var.env} Airflow: land bronze, read secrets, submit Spark jobs to EMR Serverless"
  assume_role_policy = data.aws_iam_policy_document.mwaa_assume.json
}

data "aws_iam_policy_document" "mwaa" {
  statement {
    sid       = "PublishMetrics"
    actions   = ["airflow:PublishMetrics"]
    resources = [local.mwaa_environment_arn]
  }

  statement {
    sid       = "AccountPublicAccessBlock"
    actions   = ["s3:GetAccountPublicAccessBlock"]
    resources = ["*"]
  }

  statement {
    sid       = "LakeBucketMetadata"
    actions   = ["s3:GetBucketLocation", "s3:GetBucketPublicAccessBlock", "s3:GetEncryptionConfiguration"]
    resources = [local.bucket_arn]
  }

  statement {
    sid       = "ListDagsAndLakehouse"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.mwaa_prefix}/*", local.mwaa_prefix, "${local.lakehouse_prefix}/*", local.lakehouse_prefix]
    }
  }

  statement {
    sid       = "ReadDagsAndRequirements"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.bucket_arn}/${local.mwaa_prefix}/*"]
  }

  # Ingestion tasks land bronze through delta-rs; the reverse-ETL reads gold. Silver and gold are
  # written only by the Spark jobs, so Airflow cannot write there.
  statement {
    sid       = "ReadLakehouse"
    actions   = ["s3:GetObject"]
    resources = [local.lakehouse_objects_arn]
  }

  statement {
    sid       = "WriteBronze"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.bucket_arn}/${local.lakehouse_prefix}/bronze/*"]
  }

  statement {
    sid       = "LakeKey"
    actions   = local.lake_kms_actions
    resources = [aws_kms_key.lake.arn]
  }

  statement {
    sid       = "ReadProviderAndCrmSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [for s in aws_secretsmanager_secret.provider : s.arn]
  }

  statement {
    sid = "SubmitSparkJobs"
    actions = [
      "emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "emr-serverless:CancelJobRun",
      "emr-serverless:GetApplication", "emr-serverless:StartApplication",
      "emr-serverless:GetDashboardForJobRun",
    ]
    resources = [
      aws_emrserverless_application.spark.arn,
      "${aws_emrserverless_application.spark.arn}/jobruns/*",
    ]
  }

  statement {
    sid       = "PassJobRoleToEmrOnly"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.emr_job.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["emr-serverless.amazonaws.com"]
    }
  }

  statement {
    sid = "AirflowLogs"
    actions = [
      "logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
      "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults",
    ]
    resources = ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:airflow-${local.mwaa_environment_name}-*"]
  }

  statement {
    sid       = "DescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "CloudWatchMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
  }

  # MWAA's Celery queue lives in an AWS-managed account, hence the wildcard account.
  statement {
    sid = "CeleryQueue"
    actions = [
      "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
      "sqs:ReceiveMessage", "sqs:SendMessage",
    ]
    resources = ["arn:${local.partition}:sqs:${var.aws_region}:*:airflow-celery-*"]
  }

  statement {
    sid           = "CeleryQueueKeyViaSqs"
    actions       = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"]
    not_resources = ["arn:${local.partition}:kms:*:${local.account_id}:key/*"]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["sqs.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "mwaa" {
  name   = "leadlake-airflow"
  role   = aws_iam_role.mwaa.id
  policy = data.aws_iam_policy_document.mwaa.json
}
