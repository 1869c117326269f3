# Empty secrets: terraform creates the container, an operator sets the value out of band
# (`aws secretsmanager put-secret-value`, see README), so no credential ever lands in state.
resource "aws_secretsmanager_secret" "provider" {
  for_each = local.secret_names

  name                    = "leadlake/${var.env}/${each.key}"
  description             = "leadlake ${var.env} ${each.key} credentials (JSON); value set out of band, not by terraform"
  kms_key_id              = aws_kms_key.lake.arn
  recovery_window_in_days = var.secret_recovery_window_days
}
