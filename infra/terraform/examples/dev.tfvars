# terraform plan -var-file=examples/dev.tfvars
env                         = "dev"
aws_region                  = "eu-west-1"
force_destroy               = true
bronze_retention_days       = 90
secret_recovery_window_days = 0
kms_deletion_window_days    = 7
emr_release_label           = "emr-7.9.0"
emr_max_vcpu                = 16
emr_max_memory_gb           = 64
emr_idle_timeout_minutes    = 10

# MWAA needs an existing VPC; turn it on with two private subnets and a self-referencing security group.
enable_mwaa             = false
mwaa_subnet_ids         = []
mwaa_security_group_ids = []

tags = {
  Owner = "data-platform"
}
