resource "aws_emrserverless_application" "spark" {
  name          = "${local.name}-spark"
  release_label = var.emr_release_label
  type          = "spark"
  architecture  = var.emr_architecture

  maximum_capacity {
    cpu    = "${var.emr_max_vcpu} vCPU"
    memory = "${var.emr_max_memory_gb} GB"
  }

  auto_start_configuration {
    enabled = true
  }

  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.emr_idle_timeout_minutes
  }

  dynamic "image_configuration" {
    for_each = var.emr_image_uri == null ? [] : [var.emr_image_uri]
    content {
      image_uri = image_configuration.value
    }
  }
}
