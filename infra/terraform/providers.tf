provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(
      {
        Project     = "leadlake"
        Environment = var.env
        ManagedBy   = "terraform"
      },
      var.tags,
    )
  }
}

# Local-only data source: it reads the provider configuration and makes no API call, so
# `terraform plan` stays possible without AWS credentials.
data "aws_partition" "current" {}
