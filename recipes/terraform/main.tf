# Terraform: the layer zip lambdalayer built, with its hash. A rebuild of the same inputs
# gives the same bytes, so the plan shows no change (a plain `zip -r` forces a new version).
#   lambdalayer build -r requirements.txt --runtime python3.12 -o build/layer.zip
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "layer_zip" {
  type    = string
  default = "build/layer.zip"
}

variable "lambda_endpoint" {
  type    = string
  default = null # set only to test against a local AWS-compatible server
}

provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = var.lambda_endpoint != null
  skip_metadata_api_check     = var.lambda_endpoint != null
  skip_requesting_account_id  = var.lambda_endpoint != null
  endpoints {
    lambda = var.lambda_endpoint
  }
}

resource "aws_lambda_layer_version" "deps" {
  layer_name               = "deps"
  filename                 = var.layer_zip
  source_code_hash         = filebase64sha256(var.layer_zip)
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

output "layer_arn" {
  value = aws_lambda_layer_version.deps.arn
}
