// AWS CDK (JavaScript), a container image: lambdalayer builds and pushes it to the ECR
// repository, the stack runs it by digest (DockerImageCode.fromEcr). No Docker.
//   lambdalayer image build -r requirements.txt --runtime python3.12 --function src \
//       --handler app.handler --push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/fn:latest \
//       --print digest > build/image-digest
//   npm install && npx cdk synth --app "node app.js"
const fs = require("fs");
const path = require("path");
const cdk = require("aws-cdk-lib");
const ecr = require("aws-cdk-lib/aws-ecr");
const lambda = require("aws-cdk-lib/aws-lambda");

const app = new cdk.App();
const stack = new cdk.Stack(app, "ImageFunction");
const digest = fs.readFileSync(path.join(__dirname, "build", "image-digest"), "utf8").trim();
const repository = ecr.Repository.fromRepositoryName(stack, "Repository", "fn");

new lambda.DockerImageFunction(stack, "Function", {
  code: lambda.DockerImageCode.fromEcr(repository, { tagOrDigest: digest }),
  architecture: lambda.Architecture.X86_64,
  memorySize: 1024,
  timeout: cdk.Duration.seconds(30),
});

app.synth();
