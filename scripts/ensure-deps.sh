#!/usr/bin/env bash
# Installs the Debian packages that ocictl's tests, demo and benchmark start
# (the real registry engine, skopeo, containerd, ...), when they are missing.
set -euo pipefail
PKGS=(docker-registry skopeo umoci containerd runc apache2-utils busybox-static systemd python3 curl openssl golang-github-containerd-containerd-dev)
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
command -v htpasswd >/dev/null || need+=(apache2-utils)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
# containerd's API .proto files, against which test/containerd-client-proto checks ocictl's definitions.
CTD_PROTO=/usr/share/gocode/src/github.com/containerd/containerd/api/services/content/v1/content.proto
[ -f "$CTD_PROTO" ] || need+=(golang-github-containerd-containerd-dev)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ]; then
  echo "ocictl: installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "ocictl: missing packages; run: sudo apt-get install -y ${PKGS[*]}" >&2
  exit 1
fi
