#!/usr/bin/env bash
# Installs the Java and Go peers the tests and benchmarks run beside Gatehouse, into a cache that
# later runs reuse (GATEHOUSE_PEERS_DIR, default ~/.cache/gatehouse-peers):
#   keycloak-<v>/        the Keycloak server distribution (org.keycloak:keycloak-quarkus-dist tar.gz),
#                        fetched from Maven Central with `mvn dependency:copy`
#   oauth2-proxy-<v>/    the oauth2-proxy binary, built with `go install` from the Go module proxy
# Both versions are pinned, and both downloads are checked against pinned checksums: the tar.gz's
# SHA-256, and the Go module's h1: hash (the one go.sum records). Prints the paths it installed.
set -euo pipefail

KEYCLOAK_VERSION=26.5.6
KEYCLOAK_SHA256=fa3dd5df90b9ac006712c2f0991be4e8a6cb30ac538e0439ce2f45fc40f4c692
OAUTH2_PROXY_VERSION=v7.15.6
OAUTH2_PROXY_H1=h1:4xZOFvyGysSUxdrEVyLjo+NduqGHbGV9bLE8XD49IJM=

CACHE="${GATEHOUSE_PEERS_DIR:-$HOME/.cache/gatehouse-peers}"
mkdir -p "$CACHE"

die() { echo "fetch-peers: $*" >&2; exit 1; }

# --- Keycloak --------------------------------------------------------------------------------------
kc_dir="$CACHE/keycloak-$KEYCLOAK_VERSION"
if [ -x "$kc_dir/bin/kc.sh" ]; then
  echo "keycloak: cached at $kc_dir"
else
  command -v java >/dev/null 2>&1 || die "no JDK on PATH (Keycloak needs one to run, and Maven to fetch it)"
  command -v mvn >/dev/null 2>&1 || die "no mvn on PATH (install Maven)"
  work="$(mktemp -d "$CACHE/.keycloak-XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  mvn -q -B dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz" \
    -DoutputDirectory="$work" -Dmdep.useBaseVersion=true
  tarball="$work/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz"
  actual="$(sha256sum "$tarball" | cut -d' ' -f1)"
  [ "$actual" = "$KEYCLOAK_SHA256" ] || die "keycloak tar.gz SHA-256 is $actual, expected $KEYCLOAK_SHA256"
  tar -xzf "$tarball" -C "$work"
  mv "$work/keycloak-$KEYCLOAK_VERSION" "$kc_dir"
  rm -rf "$work"
  trap - EXIT
  echo "keycloak: installed at $kc_dir"
fi

# Keycloak 26 runs on Java 21 or newer. The harness (scripts/test-keycloak.mjs) uses JAVA_HOME when
# it is one, else the newest under /usr/lib/jvm, else `java` on PATH; make sure one of them exists.
java_major() { # java_major <jdk home>: its major version, or 0
  local v
  v="$(sed -n 's/^JAVA_VERSION="\([0-9.]*\).*/\1/p' "$1/release" 2>/dev/null || true)"
  [ -n "$v" ] || v="$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9.]*\).*/\1/p' | head -n1)"
  case "$v" in 1.*) v="${v#1.}" ;; esac
  echo "${v%%.*}" | grep -E '^[0-9]+$' || echo 0
}
kc_java=""
for home in ${JAVA_HOME:-} /usr/lib/jvm/* "$(dirname "$(dirname "$(readlink -f "$(command -v java || echo /nonexistent)")")")"; do
  if [ -x "$home/bin/java" ] && [ "$(java_major "$home")" -ge 21 ]; then kc_java="$home"; break; fi
done
[ -n "$kc_java" ] || die "Keycloak $KEYCLOAK_VERSION needs Java 21 or newer, and neither JAVA_HOME, /usr/lib/jvm nor the java on PATH is one (install e.g. openjdk-21-jdk-headless or temurin-21-jdk, or set JAVA_HOME)"
echo "keycloak: runs on Java $(java_major "$kc_java") at $kc_java"

# --- oauth2-proxy ----------------------------------------------------------------------------------
op_dir="$CACHE/oauth2-proxy-$OAUTH2_PROXY_VERSION"
if [ -x "$op_dir/oauth2-proxy" ]; then
  echo "oauth2-proxy: cached at $op_dir/oauth2-proxy"
else
  command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH (oauth2-proxy is built with go install)"
  module="github.com/oauth2-proxy/oauth2-proxy/v7"
  export GOPATH="$CACHE/go" GOBIN="$op_dir" GOFLAGS=-buildvcs=false
  # The module's own hash, checked against the pin before anything is built from it.
  sum="$(go mod download -json "$module@$OAUTH2_PROXY_VERSION" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$/\1/p')"
  [ "$sum" = "$OAUTH2_PROXY_H1" ] || die "oauth2-proxy module hash is '$sum', expected $OAUTH2_PROXY_H1"
  go install -trimpath "$module@$OAUTH2_PROXY_VERSION"
  echo "oauth2-proxy: installed at $op_dir/oauth2-proxy"
fi
