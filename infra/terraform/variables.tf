variable "env" {
  description = "Deployment environment; part of every resource name and of the secret paths leadlake/<env>/..."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.env)
    error_message = "env must be one of dev, staging, prod."
  }
}

variable "aws_region" {
  description = "AWS region that hosts the lake, EMR Serverless, MWAA, Glue and Athena."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like an AWS region code, e.g. us-east-1 or eu-west-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (lowercase letters, digits and hyphens)."
  type        = string
  default     = "leadlake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2-21 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "lake_bucket_name" {
  description = "Exact name of the lake bucket. Null lets AWS add a unique suffix to <name_prefix>-<env>-lake-."
  type        = string
  default     = null

  validation {
    condition     = var.lake_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lake_bucket_name))
    error_message = "lake_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "lakehouse_prefix" {
  description = "Key prefix of the lakehouse inside the bucket; LEADLAKE_LAKEHOUSE_URI becomes s3://<bucket>/<prefix>."
  type        = string
  default     = "lakehouse"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.lakehouse_prefix))
    error_message = "lakehouse_prefix must be a single path segment without slashes (lowercase, digits, _ and -)."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket and Athena workgroup. Keep false outside dev."
  type        = bool
  default     = false
}

variable "bronze_retention_days" {
  description = "Days after which objects under <lakehouse_prefix>/bronze/ (raw provider payloads) expire."
  type        = number
  default     = 365

  validation {
    condition     = var.bronze_retention_days >= 30 && floor(var.bronze_retention_days) == var.bronze_retention_days
    error_message = "bronze_retention_days must be a whole number of days, at least 30."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept (the undo window of a versioned bucket)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "athena_results_retention_days" {
  description = "Days Athena query results are kept under athena-results/."
  type        = number
  default     = 30

  validation {
    condition     = var.athena_results_retention_days >= 1
    error_message = "athena_results_retention_days must be at least 1."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the lake KMS key is deleted after terraform destroy (7-30 days)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted Secrets Manager secret can be restored; 0 deletes at once (dev only)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "emr_release_label" {
  description = "EMR Serverless release label of the Spark application (e.g. emr-7.9.0); see README for Spark versions."
  type        = string
  default     = "emr-7.9.0"

  validation {
    condition     = can(regex("^emr-[0-9]+\\.[0-9]+\\.[0-9]+(-[a-z0-9]+)?$", var.emr_release_label))
    error_message = "emr_release_label must look like emr-7.9.0."
  }
}

variable "emr_architecture" {
  description = "CPU architecture of the EMR Serverless workers."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.emr_architecture)
    error_message = "emr_architecture must be X86_64 or ARM64."
  }
}

variable "emr_image_uri" {
  description = "Optional custom EMR Serverless image (ECR URI), e.g. one carrying Spark 4 and Delta jars. Null uses the release's image."
  type        = string
  default     = null
}

variable "emr_max_vcpu" {
  description = "Maximum total vCPU the EMR Serverless application may scale to (caps the cost of a runaway job)."
  type        = number
  default     = 32

  validation {
    condition     = var.emr_max_vcpu >= 1 && var.emr_max_vcpu <= 4000
    error_message = "emr_max_vcpu must be between 1 and 4000."
  }
}

variable "emr_max_memory_gb" {
  description = "Maximum total memory (GB) the EMR Serverless application may scale to."
  type        = number
  default     = 128

  validation {
    condition     = var.emr_max_memory_gb >= 4
    error_message = "emr_max_memory_gb must be at least 4."
  }
}

variable "emr_idle_timeout_minutes" {
  description = "Minutes of idleness after which the EMR Serverless application stops (and stops billing)."
  type        = number
  default     = 15

  validation {
    condition     = var.emr_idle_timeout_minutes >= 1 && var.emr_idle_timeout_minutes <= 10080
    error_message = "emr_idle_timeout_minutes must be between 1 and 10080."
  }
}

variable "enable_mwaa" {
  description = "Create the MWAA (managed Airflow) environment. Needs two private subnets and security groups of an existing VPC."
  type        = bool
  default     = false
}

variable "mwaa_subnet_ids" {
  description = "Exactly two private subnet IDs (in different AZs) for MWAA; required when enable_mwaa is true."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.mwaa_subnet_ids) == 0 || length(var.mwaa_subnet_ids) == 2
    error_message = "mwaa_subnet_ids must list exactly two private subnets (or none when MWAA is disabled)."
  }
}

variable "mwaa_security_group_ids" {
  description = "Security group IDs for MWAA (must allow all traffic between members); required when enable_mwaa is true."
  type        = list(string)
  default     = []
}

variable "mwaa_airflow_version" {
  description = "Airflow version of the MWAA environment; must be one MWAA offers in the region (leadlake targets Airflow 3)."
  type        = string
  default     = "3.0.6"
}

variable "mwaa_environment_class" {
  description = "MWAA environment size."
  type        = string
  default     = "mw1.small"

  validation {
    condition     = contains(["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"], var.mwaa_environment_class)
    error_message = "mwaa_environment_class must be one of mw1.micro, mw1.small, mw1.medium, mw1.large, mw1.xlarge, mw1.2xlarge."
  }
}

variable "mwaa_max_workers" {
  description = "Maximum number of MWAA workers."
  type        = number
  default     = 5

  validation {
    condition     = var.mwaa_max_workers >= 1 && var.mwaa_max_workers <= 25
    error_message = "mwaa_max_workers must be between 1 and 25."
  }
}

variable "mwaa_webserver_access_mode" {
  description = "PRIVATE_ONLY (reach the Airflow UI through the VPC) or PUBLIC_ONLY (IAM-authenticated public URL)."
  type        = string
  default     = "PRIVATE_ONLY"

  validation {
    condition     = contains(["PRIVATE_ONLY", "PUBLIC_ONLY"], var.mwaa_webserver_access_mode)
    error_message = "mwaa_webserver_access_mode must be PRIVATE_ONLY or PUBLIC_ONLY."
  }
}

variable "mwaa_requirements_s3_path" {
  description = "Optional key (in the lake bucket) of the requirements.txt MWAA installs, e.g. mwaa/requirements.txt."
  type        = string
  default     = null
}

variable "mwaa_startup_script_s3_path" {
  description = "Optional key (in the lake bucket) of the MWAA startup script that exports the LEADLAKE_* variables."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags added to every resource."
  type        = map(string)
  default     = {}
}
