#!/usr/bin/env bash
# Health check of one tensorflow/serving replica, for docker-compose.yml: the replica is healthy when
# a prediction on the version it serves gives the expected answer (so the model is loaded, the version
# is the right one and it computes). The tensorflow/serving image is Ubuntu with the model server and
# ca-certificates only (no curl, no wget), so this speaks HTTP through bash's /dev/tcp.
#
#   healthcheck.sh MODEL VERSION EXPECTED [PORT]
#   healthcheck.sh half_plus_two 1 2.5           # POST /v1/models/half_plus_two/versions/1:predict {"instances": [1.0]}
#   healthcheck.sh half_plus_two latest any      # POST /v1/models/half_plus_two:predict, any one prediction
#
# VERSION `latest` asks the model without a version (TF answers with its newest AVAILABLE one), for
# a replica whose versions change under it (model_version_policy latest N); EXPECTED `any` accepts
# any single prediction. Exit 0 when the answer is 200 with predictions [EXPECTED]; otherwise 1,
# with the reason on stderr (docker inspect shows it in the container's health log).
set -u

model=${1:?model name}
version=${2:?version}
expected=${3:?expected prediction for x = 1.0}
port=${4:-8501}
body='{"instances": [1.0]}'

fail() {
  echo "unhealthy: $*" >&2
  exit 1
}

exec 3<>"/dev/tcp/127.0.0.1/${port}" || fail "nothing listens on port ${port} (still loading?)"
if [[ $version == latest ]]; then path="/v1/models/${model}:predict"; else path="/v1/models/${model}/versions/${version}:predict"; fi
printf 'POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
  "$path" "${#body}" "$body" >&3 || fail "cannot send the request"
response=$(timeout 4 cat <&3) || fail "no complete answer within 4 s"
exec 3<&-

status_line=${response%%$'\r\n'*}
[[ $status_line == "HTTP/1."[01]" 200 "* ]] || fail "status: ${status_line:-none}"
answer=${response#*$'\r\n\r\n'}
[[ $answer == *'"predictions"'* ]] || fail "no predictions in: ${answer}"
predictions=${answer#*'"predictions"'}
predictions=${predictions#*[}
predictions=${predictions%%]*}
predictions=${predictions//[[:space:]]/}
if [[ $expected == any ]]; then
  [[ $predictions =~ ^-?[0-9][0-9.eE+-]*$ ]] || fail "${model} (${version}) predicts [${predictions}] for [1.0], not one number"
  exit 0
fi
[[ $predictions == "$expected" ]] || fail "version ${version} of ${model} predicts [${predictions}] for [1.0], expected [${expected}]"
exit 0
