#!/usr/bin/env bash
# Build the qboost-exp SageMaker images and push them to Amazon ECR.
#
#   docker/build_and_push.sh NAME [REGION] [BUILD_CONTEXT]
#
# NAME           the ECR repository (created if missing) and local image name
# REGION         AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, `aws configure get region`)
# BUILD_CONTEXT  the directory `python -m serving package` wrote (default build/sagemaker)
#
# Two images from the one context, two tags of NAME:
#   NAME:serve  the Dockerfile's `serve` target: the lean serving image (numpy, Flask, gunicorn,
#               nginx, the compiled model); for endpoints and Batch Transform
#   NAME:full   the `full` target: trains and serves any model; for training jobs
# The full image is built first; the serve target reuses its shared layers. When the model
# does not compile (build-info.json says "image_target": "full"), only NAME:full is built.
#
# Environment: IMAGE_TAG (default none: tags `serve` and `full`; IMAGE_TAG=v7 gives `v7-serve`
# and `v7-full`), PLATFORM (default linux/amd64: SageMaker's
# ml.* instances are x86-64, also when building on an ARM laptop), CONTAINER_ENGINE
# (default docker; podman works too, without a daemon), BASE_IMAGE (passed to the
# Dockerfile's ARG BASE_IMAGE; default python:3.11-slim).
#
# Progress goes to stderr; stdout is two lines: the URI to serve with (deploy, Batch Transform),
# then the URI to train with (train-job). Without a serve image both lines are the full one:
#   { read -r SERVE_IMAGE; read -r TRAIN_IMAGE; } < <(docker/build_and_push.sh qboost-sagemaker eu-west-1)
# Needs the AWS CLI (v1 or v2) and Docker or podman.
set -euo pipefail

usage() {
    echo "usage: $(basename "$0") NAME [REGION] [BUILD_CONTEXT]" >&2
    echo "  builds BUILD_CONTEXT (default build/sagemaker, from \`python -m serving package\`) as two images," >&2
    echo "  creates the ECR repository NAME if missing, and pushes NAME:serve and NAME:full (\${IMAGE_TAG}-serve/-full)" >&2
}

say() {
    echo "build_and_push: $*" >&2
}

if [[ $# -lt 1 || $# -gt 3 || "$1" == "-h" || "$1" == "--help" ]]; then
    usage
    exit 2
fi

name=$1
context=${3:-build/sagemaker}
tag=${IMAGE_TAG:-}
platform=${PLATFORM:-linux/amd64}
engine=${CONTAINER_ENGINE:-docker}
build_args=()
if [[ -n "${BASE_IMAGE:-}" ]]; then
    build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
fi

# ECR repository names: lowercase, digits, and . _ - / separators.
if [[ ! "$name" =~ ^[a-z0-9]+([._/-][a-z0-9]+)*$ ]]; then
    echo "error: invalid repository name '$name': lowercase letters, digits and . _ - / separators" >&2
    exit 2
fi
if [[ ! -f "$context/Dockerfile" ]]; then
    echo "error: no Dockerfile in '$context': run \`python -m serving package --out $context ...\` first" >&2
    exit 2
fi
for tool in aws "$engine"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: '$tool' is not on PATH${CONTAINER_ENGINE:+ (CONTAINER_ENGINE=$CONTAINER_ENGINE)}" >&2
        exit 2
    fi
done

region=${2:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}
if [[ -z "$region" ]]; then
    region=$(aws configure get region 2>/dev/null || true)
fi
if [[ -z "$region" ]]; then
    echo "error: no AWS region: pass it as the second argument or set AWS_DEFAULT_REGION" >&2
    exit 2
fi

account=$(aws sts get-caller-identity --query Account --output text)
if [[ ! "$account" =~ ^[0-9]{12}$ ]]; then
    echo "error: unexpected account id '$account' from \`aws sts get-caller-identity\`" >&2
    exit 2
fi

domain=amazonaws.com
if [[ "$region" == cn-* ]]; then
    domain=amazonaws.com.cn
fi
registry="$account.dkr.ecr.$region.$domain"

# Which targets: both, unless `package` found that the model does not compile.
targets=(full serve)
if [[ -f "$context/build-info.json" ]] && grep -q '"image_target": *"full"' "$context/build-info.json"; then
    say "the model in $context does not compile (build-info.json: image_target full): building only the full image"
    targets=(full)
fi
tag_of() {
    echo "${tag:+$tag-}$1"
}

# Only "repository not found" means "create it"; any other failure (credentials,
# permissions, network) must stop here with its own message.
if ! describe_error=$(aws ecr describe-repositories --repository-names "$name" --region "$region" 2>&1 >/dev/null); then
    if [[ "$describe_error" == *RepositoryNotFoundException* ]]; then
        say "creating ECR repository $name in $region"
        aws ecr create-repository --repository-name "$name" --region "$region" >/dev/null
    else
        echo "error: aws ecr describe-repositories failed: $describe_error" >&2
        exit 2
    fi
fi

say "logging in to $registry"
aws ecr get-login-password --region "$region" | "$engine" login --username AWS --password-stdin "$registry" >&2

for target in "${targets[@]}"; do
    local_image="$name:$(tag_of "$target")"
    say "building $local_image (target $target, $platform) from $context with $engine"
    "$engine" build --platform "$platform" "${build_args[@]}" --target "$target" -t "$local_image" "$context" >&2
    "$engine" tag "$local_image" "$registry/$local_image" >&2
done

for target in "${targets[@]}"; do
    say "pushing $registry/$name:$(tag_of "$target")"
    "$engine" push "$registry/$name:$(tag_of "$target")" >&2
done

serve_target=${targets[-1]}
echo "$registry/$name:$(tag_of "$serve_target")"
echo "$registry/$name:$(tag_of full)"
