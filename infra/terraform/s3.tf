resource "aws_s3_bucket" "lake" {
  bucket        = var.lake_bucket_name
  bucket_prefix = var.lake_bucket_name == null ? "${local.name}-lake-" : null
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket = aws_s3_bucket.lake.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Delta time travel covers table history; bucket versioning is the undo for everything else
# (a bad VACUUM, an expired prefix, a deleted DAG file). MWAA also requires it on its source bucket.
resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.lake.arn
    }
    # Bucket keys cut KMS request costs by ~99% for Spark's many small reads.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  # Raw provider payloads are the most sensitive and least reused data: they age out.
  # See README "Bronze retention and Delta" for how this interacts with the Delta log.
  rule {
    id     = "bronze-raw-expiry"
    status = "Enabled"

    filter {
      prefix = "${local.lakehouse_prefix}/bronze/"
    }

    expiration {
      days = var.bronze_retention_days
    }
  }

  rule {
    id     = "athena-results-expiry"
    status = "Enabled"

    filter {
      prefix = "${local.athena_results_prefix}/"
    }

    expiration {
      days = var.athena_results_retention_days
    }
  }

  rule {
    id     = "noncurrent-versions-and-multipart"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Lifecycle rules on a bucket without versioning behave differently; apply after it.
  depends_on = [aws_s3_bucket_versioning.lake]
}

data "aws_iam_policy_document" "lake_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.lake.arn,
      "${aws_s3_bucket.lake.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = data.aws_iam_policy_document.lake_bucket.json

  # S3 rejects a bucket policy while the public access block is being created.
  depends_on = [aws_s3_bucket_public_access_block.lake]
}
