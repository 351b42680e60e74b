#!/usr/bin/env bash
# bash configs/stacks/kubernetes.sh        (once per ZenML server; then: python run.py run --config configs/llama3_8b_unsloth.yaml --zenml-config configs/stacks/kubernetes_run.yaml --data gs://...)
#
# A ZenML stack for a cluster: a Kubernetes orchestrator runs every step in its own pod; a Kubernetes step operator
# runs only the training step on a GPU node; artifacts live in a bucket; MLflow tracking and the model registry are a
# remote server. Edit the variables, run it against a deployed ZenML server (`zenml login https://...`).
set -euo pipefail
CONTEXT=${CONTEXT:-my-cluster}                     # kubectl context
NAMESPACE=${NAMESPACE:-radreport}
BUCKET=${BUCKET:-gs://my-bucket/radreport}          # or s3://... with --flavor=s3 below
REGISTRY=${REGISTRY:-europe-docker.pkg.dev/my-project/radreport}
MLFLOW_URI=${MLFLOW_URI:-https://mlflow.example.org}

zenml integration install kubernetes gcp mlflow -y  # s3 instead of gcp for AWS

zenml artifact-store register radreport_bucket --flavor=gcp --path="$BUCKET"
zenml container-registry register radreport_images --flavor=gcp --uri="$REGISTRY"
zenml image-builder register radreport_builder --flavor=local
# The MLflow tracker and registry as on the team stack; credentials live in a ZenML secret (team.sh).
source "$(dirname "$0")/team.sh"
team_tracker
zenml orchestrator register k8s --flavor=kubernetes --kubernetes_context="$CONTEXT" --kubernetes_namespace="$NAMESPACE"
zenml step-operator register k8s_gpu --flavor=kubernetes --kubernetes_context="$CONTEXT" --kubernetes_namespace="$NAMESPACE"

zenml stack register radreport-k8s -o k8s -a radreport_bucket -c radreport_images -i radreport_builder \
  -e mlflow_tracker -r mlflow_registry -s k8s_gpu --set
