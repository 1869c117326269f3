# One customer-managed key encrypts the lake objects, Athena results and the provider/CRM secrets.
# No explicit policy: the AWS default key policy delegates access to IAM, and the roles in iam.tf
# grant exactly the kms actions they need.
resource "aws_kms_key" "lake" {
  description             = "leadlake ${var.env}: lake bucket, Athena results and secrets"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
}

resource "aws_kms_alias" "lake" {
  name          = "alias/${local.name}-lake"
  target_key_id = aws_kms_key.lake.key_id
}
