#!/usr/bin/env bash
# bash ops/docker/build.sh        (as root, a Docker daemon answering (DOCKER_HOST), Debian's debootstrap, .venv set up)
#
# Builds radreport-base:<project version>, the parent image of every step container (configs/stacks/docker_run.yaml;
# configs/stacks/kubernetes_run.yaml names the same image pushed to a registry), pulling nothing from any registry:
#   1. radreport-debian:bookworm: Debian bookworm from Debian's packages (debootstrap minbase + python3, python3-venv,
#      ca-certificates, WordNet for METEOR), trimmed (no apt lists, .debs, docs, man pages, locales), `docker import`ed;
#   2. the Dockerfile on it: a venv with torch and ops/docker/requirements.txt (the project's dependencies pinned from
#      its venv: `.venv/bin/python ops/docker/pin.py > ops/docker/requirements.txt`), from wheels this machine's pip
#      resolves (its index, mirror and local wheels, as for .venv); the build itself has no network.
# The project's code is not in it: ZenML ships it with each run. An image whose label radreport.inputs matches this
# script, the Dockerfile and the requirements is kept (nothing done); the rootfs and wheels stay in $WORK for a rebuild.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
TAG=${TAG:-radreport-base:$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)}
BASE=${BASE:-radreport-debian:bookworm}
WORK=${WORK:-/var/tmp/radreport-image}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv,ca-certificates,wordnet-base,wordnet-sense-index

label() { docker image inspect -f '{{index .Config.Labels "radreport.inputs"}}' "$1" 2>/dev/null || true; }
base_inputs=$(sed -n '/^# -- rootfs/,/^# -- end/p' ops/docker/build.sh | sha256sum | cut -c1-16)
inputs=$(cat ops/docker/build.sh ops/docker/Dockerfile ops/docker/requirements.txt | sha256sum | cut -c1-16)
if [[ "$(label "$TAG")" == "$inputs" ]]; then
  echo "$TAG is up to date (inputs $inputs)"
  exit 0
fi
mkdir -p "$WORK"
started=$SECONDS
# the wheels, resolved by this machine's pip (its cache, mirror and local wheels) while the rootfs is made
"$PYTHON" -m pip wheel -q --no-deps -r ops/docker/requirements.txt -w "$WORK/wheels" > "$WORK/pip.log" 2>&1 &
wheels=$!

# -- rootfs (its own label: rebuilt only when this block changes)
if [[ "$(label "$BASE")" != "$base_inputs" ]]; then
  rootfs="$WORK/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$MIRROR" > "$WORK/debootstrap.log"
  # Debian's WordNet where nltk looks (/usr/share/nltk_data; nltk refuses a symlink out of it), with the lexnames
  # file nltk needs (from WordNet's man page), as the Makefile does for .venv
  wordnet="$rootfs/usr/share/nltk_data/corpora/wordnet"
  mkdir -p "$(dirname "$wordnet")"
  mv "$rootfs/usr/share/wordnet" "$wordnet"
  zcat "$rootfs/usr/share/man/man5/lexnames.5WN.gz" | awk -F'\t' '/^[0-9][0-9]\t/{gsub(/ /,"",$2); split($2,a,".");
    c=(a[1]=="noun")?1:(a[1]=="verb")?2:(a[1]=="adj")?3:4; printf "%s\t%s\t%d\n",$1,$2,c}' > "$wordnet/lexnames"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/{doc,man,info,locale}/*
  tar -C "$rootfs" -c . | docker import -c "LABEL radreport.build=radreport-base radreport.inputs=$base_inputs" \
    -c 'CMD ["/bin/bash"]' - "$BASE" > /dev/null
  rm -rf "$rootfs"
  echo "$BASE: debootstrapped and imported in $((SECONDS - started)) s"
fi
# -- end

wait $wheels || { cat "$WORK/pip.log" >&2; exit 1; }
# The build gets the wheels over loopback (no copy in a layer): an HTTP server on a free port for the build's length.
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PYTHON" -m http.server --bind 127.0.0.1 --directory "$WORK/wheels" "$port" > "$WORK/wheels.log" 2>&1 &
server=$!
trap 'kill $server' EXIT
context="$WORK/context"
rm -rf "$context" && mkdir -p "$context" && cp ops/docker/Dockerfile ops/docker/requirements.txt "$context/"
building=$SECONDS
docker build --network host --build-arg BASE="$BASE" --build-arg WHEELS="http://127.0.0.1:$port/" \
  --build-arg INPUTS="$inputs" -t "$TAG" "$context" > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log" >&2; exit 1; }
# images of earlier inputs (by their labels; also where ZenML tagged them for a run) go
for image in $(docker images -q --filter label=radreport.build=radreport-base | sort -u) \
             $(docker images -q --filter label=radreport.build=radreport-base | sort -u); do  # twice: parents last
  case "$(label "$image")" in "$inputs"|"$base_inputs") ;; *) docker rmi -f "$image" > /dev/null 2>&1 || true ;; esac
done
echo "$TAG: built in $((SECONDS - started)) s ($((SECONDS - building)) s docker build)," \
  "$(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.2f GB", $1/1e9}')"
