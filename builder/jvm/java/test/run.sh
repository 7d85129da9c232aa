#!/bin/sh
# Compiles Kumo's JVM bridge (../kumo) with BridgeCheck for Java 17 and runs the
# check on an ordinary JVM. JAVA17_HOME overrides the JDK used.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
jdk=${JAVA17_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$jdk/bin/javac" --release 17 -Xlint:all -Werror -d "$out" "$here"/../kumo/*.java "$here/BridgeCheck.java"
"$jdk/bin/java" -cp "$out" BridgeCheck
