#!/usr/bin/env bash
# Demo S3 traffic through s3-audit-proxy with the aws CLI: one of each everyday operation, and one
# that fails on purpose, so the audit index has something to show. Each step is one or two S3
# requests, so one or two audit events:
#
#   make bucket        CreateBucket
#   upload             PutObject
#   list               ListObjectsV2
#   download           HeadObject, GetObject
#   get a missing key  GetObject -> 404 NoSuchKey (expected)
#   delete object      DeleteObject
#   remove bucket      DeleteBucket
#
# Runs as the compose `traffic` service (amazon/aws-cli image) and, unchanged, from the project's
# tests against a local proxy. Settings (environment):
#   AWS_ENDPOINT_URL     the proxy's S3 endpoint (default http://proxy:9080, the compose service)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION   credentials of the backend
#   DEMO_BUCKET          bucket to create and remove (default audit-demo-<UTC timestamp>)
#   DEMO_KEY             object key (default reports/hello.txt)
# Needs only bash and the aws CLI (v1 or v2).
set -euo pipefail

endpoint="${AWS_ENDPOINT_URL:-http://proxy:9080}"
bucket="${DEMO_BUCKET:-audit-demo-$(date -u +%Y%m%d%H%M%S)}"
key="${DEMO_KEY:-reports/hello.txt}"
missing="missing-key.txt"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --endpoint-url on every call: aws CLI v1 ignores AWS_ENDPOINT_URL.
s3() { aws --endpoint-url "$endpoint" "$@"; }
step() { printf '== %s\n' "$*"; }

printf 'hello from the s3-audit-proxy demo, %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/hello.txt"

step "traffic to $endpoint, bucket $bucket"

step "make bucket (CreateBucket)"
s3 s3 mb "s3://$bucket"

step "upload (PutObject)"
s3 s3 cp "$work/hello.txt" "s3://$bucket/$key" --only-show-errors

step "list (ListObjectsV2)"
s3 s3 ls "s3://$bucket" --recursive

step "download (HeadObject, GetObject)"
s3 s3 cp "s3://$bucket/$key" "$work/copy.txt" --only-show-errors
if [ "$(cat "$work/hello.txt")" != "$(cat "$work/copy.txt")" ]; then
  echo "downloaded object differs from the uploaded one" >&2
  exit 1
fi

step "get a missing key (GetObject, expected to fail with NoSuchKey)"
if s3 s3api get-object --bucket "$bucket" --key "$missing" "$work/missing.txt" >/dev/null 2>"$work/missing.err"; then
  echo "GetObject of a missing key succeeded" >&2
  exit 1
fi
case "$(cat "$work/missing.err")" in
  *NoSuchKey*) echo "failed as expected: NoSuchKey" ;;
  *) echo "GetObject of a missing key failed, but not with NoSuchKey:" >&2; cat "$work/missing.err" >&2; exit 1 ;;
esac

step "delete object (DeleteObject)"
s3 s3 rm "s3://$bucket/$key" --only-show-errors

step "remove bucket (DeleteBucket)"
s3 s3 rb "s3://$bucket"

step "done"
