// AWS CDK (JavaScript): two ways to use lambdalayer, neither needs Docker.
//   npm install aws-cdk-lib constructs && npx cdk synth --app "node app.js"
const path = require("path");
const { execFileSync } = require("child_process");
const cdk = require("aws-cdk-lib");
const lambda = require("aws-cdk-lib/aws-lambda");

const app = new cdk.App();
const stack = new cdk.Stack(app, "Layers");
const requirements = path.join(__dirname, "layer", "requirements.txt");
const zip = path.join(__dirname, "build", "layer.zip");

// 1. The zip lambdalayer built is the asset, byte for byte (deterministic: no new asset
//    hash, so no new layer version, when nothing changed).
new lambda.LayerVersion(stack, "DepsZip", {
  code: lambda.Code.fromCustomCommand(zip, [
    "lambdalayer", "build", "-r", requirements, "--runtime", "python3.12", "-o", zip,
  ]),
  compatibleRuntimes: [lambda.Runtime.PYTHON_3_12],
  compatibleArchitectures: [lambda.Architecture.X86_64],
});

// 2. Local bundling: lambdalayer writes the layer's files (with their Unix modes) into the
//    bundling output directory; the Docker image is never used because tryBundle succeeds.
new lambda.LayerVersion(stack, "DepsTree", {
  code: lambda.Code.fromAsset(path.join(__dirname, "layer"), {
    bundling: {
      image: cdk.DockerImage.fromRegistry("unused-because-local-bundling-succeeds"),
      local: {
        tryBundle(outputDir) {
          execFileSync("lambdalayer", ["build", "-r", requirements, "--runtime", "python3.12", "-o", `${outputDir}/`],
            { stdio: "inherit" });
          return true;
        },
      },
    },
  }),
  compatibleRuntimes: [lambda.Runtime.PYTHON_3_12],
  compatibleArchitectures: [lambda.Architecture.X86_64],
});

app.synth();
