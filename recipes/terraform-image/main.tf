# Terraform, a container image: lambdalayer builds and pushes it, Terraform deploys it by
# digest. The same inputs give the same digest on any machine, so a rebuild plans no change.
#   lambdalayer image build -r requirements.txt --runtime python3.12 --function src \
#       --handler app.handler --push 123456789012.dkr.ecr.us-east-1.amazonaws.com/fn:latest \
#       --print image-uri > build/image-uri
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "image_uri_file" {
  type    = string
  default = "build/image-uri"
}

variable "aws_endpoint" {
  type    = string
  default = null # set only to test against a local AWS-compatible server
}

provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = var.aws_endpoint != null
  skip_metadata_api_check     = var.aws_endpoint != null
  skip_requesting_account_id  = var.aws_endpoint != null
  endpoints {
    lambda = var.aws_endpoint
    iam    = var.aws_endpoint
    sts    = var.aws_endpoint
  }
}

resource "aws_iam_role" "fn" {
  name = "lambdalayer-image-fn"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } }]
  })
}

resource "aws_lambda_function" "fn" {
  function_name = "lambdalayer-image-fn"
  role          = aws_iam_role.fn.arn
  package_type  = "Image"
  image_uri     = trimspace(file(var.image_uri_file)) # HOST/REPOSITORY@sha256:…
  architectures = ["x86_64"]
  memory_size   = 1024
  timeout       = 30
}

output "image_uri" {
  value = aws_lambda_function.fn.image_uri
}
