#!/usr/bin/env bash
# bash configs/stacks/team.sh        (once per ZenML server, logged in to it; then: python run.py run --config configs/demo.yaml)
#
# A team's stack on a running ZenML server and MLflow server: every run is recorded on the ZenML server (lineage in
# its dashboard), every metric, model and promotion decision in the one MLflow tracking server and registry. The
# orchestrator stays local (each member runs pipelines on their own machine); the artifact store is a folder every
# member mounts at the same path (or a bucket: see kubernetes.sh). The MLflow credentials are a ZenML secret,
# resolved by ZenML when a step or command connects, never written to a config file, a log or MLflow params.
#
# Needs: a ZenML client logged in to the server (`zenml login URL`, or ZENML_STORE_URL, ZENML_STORE_USERNAME and
# ZENML_STORE_PASSWORD), and the MLflow server's URL. A second member only activates it: zenml stack set radreport-team
set -euo pipefail
MLFLOW_URI=${MLFLOW_URI:?set MLFLOW_URI, e.g. http://mlflow.internal:5000}
MLFLOW_USERNAME=${MLFLOW_USERNAME:-radreport}      # the MLflow server's basic-auth user, if it has auth
MLFLOW_PASSWORD=${MLFLOW_PASSWORD:-unused}

team_tracker() {  # the experiment tracker and model registry lines, shared with kubernetes.sh and docker.sh (kept if there)
  zenml secret get mlflow_auth > /dev/null 2>&1 ||
    zenml secret create mlflow_auth --username="$MLFLOW_USERNAME" --password="$MLFLOW_PASSWORD"
  zenml experiment-tracker describe mlflow_tracker > /dev/null 2>&1 ||
    zenml experiment-tracker register mlflow_tracker --flavor=mlflow --tracking_uri="$MLFLOW_URI" \
      --tracking_username='{{mlflow_auth.username}}' --tracking_password='{{mlflow_auth.password}}'
  zenml model-registry describe mlflow_registry > /dev/null 2>&1 ||
    zenml model-registry register mlflow_registry --flavor=mlflow
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  ARTIFACTS=${ARTIFACTS:?set ARTIFACTS, a folder every member mounts at this path}
  team_tracker
  zenml artifact-store register team_artifacts --flavor=local --path="$ARTIFACTS"
  zenml orchestrator register team_local --flavor=local
  zenml stack register radreport-team -o team_local -a team_artifacts -e mlflow_tracker -r mlflow_registry --set
fi
