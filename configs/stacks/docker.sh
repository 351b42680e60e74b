#!/usr/bin/env bash
# bash configs/stacks/docker.sh        (once per ZenML server and machine, logged in to it, with a Docker daemon and the image: bash ops/docker/build.sh; then: python run.py run --config configs/demo.yaml --zenml-config configs/stacks/docker_run.yaml)
#
# Every step in its own container on this machine, on the team's servers: ZenML's local_docker orchestrator starts one
# container per step from the project's image (ops/docker/build.sh: radreport-base, named in docker_run.yaml) on the
# host's network, so steps reach the ZenML server, the MLflow server and the artifact store as the host does; each
# container is removed when its step ends. ZenML ships the project's code with each run (an archive in the artifact
# store), as it would to a pod. The artifact store is a folder on this machine inside ZenML's local stores folder
# (the orchestrator mounts that folder into every container at the same path; ZENML_LOCAL_STORES_PATH moves it):
# containers see no other file of this machine, so --data and a local base model go there too (or are URLs).
# The MLflow tracker and registry are the team stack's (team.sh's lines; kept if team.sh registered them already).
#
# Needs: a ZenML client logged in to the server (as team.sh), MLFLOW_URI, a Docker daemon the pipeline's process
# reaches (DOCKER_HOST) whose host-gateway is loopback (dockerd --host-gateway-ip=127.0.0.1: ZenML rewrites a
# 127.0.0.1 server address to host.docker.internal inside containers).
set -euo pipefail
PYTHON=${PYTHON:-python}
LOCAL_STORES=$("$PYTHON" -c 'from zenml.config.global_config import GlobalConfiguration as G
print(G().local_stores_path)' | tail -n 1)  # below ZenML's first-use notice
ARTIFACTS=${DOCKER_ARTIFACTS:-$LOCAL_STORES/radreport-docker}
[[ "$ARTIFACTS" == "$LOCAL_STORES"/* ]] || { echo "DOCKER_ARTIFACTS must be inside $LOCAL_STORES" >&2; exit 1; }

source "$(dirname "$0")/team.sh"
team_tracker
zenml image-builder describe radreport_builder > /dev/null 2>&1 ||
  zenml image-builder register radreport_builder --flavor=local
zenml artifact-store register docker_artifacts --flavor=local --path="$ARTIFACTS"
zenml orchestrator register radreport_docker --flavor=local_docker \
  --run_args='{"network_mode": "host", "remove": true}'
zenml stack register radreport-docker -o radreport_docker -a docker_artifacts -i radreport_builder \
  -e mlflow_tracker -r mlflow_registry --set
