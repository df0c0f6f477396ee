#!/usr/bin/env bash
# Health check of one tensorflow/serving replica, for docker-compose.yml: the replica is healthy when
# a prediction on the version it serves gives the expected answer (so the model is loaded, the version
# is the right one and it computes). The tensorflow/serving image is Ubuntu with the model server and
# ca-certificates only (no curl, no wget), so this speaks HTTP through bash's /dev/tcp.
#
#   healthcheck.sh MODEL VERSION EXPECTED [PORT]
#   healthcheck.sh half_plus_two 1 2.5        # POST /v1/models/half_plus_two/versions/1:predict {"instances": [1.0]}
#
# Exit 0 when the answer is 200 with predictions [EXPECTED]; otherwise 1, with the reason on stderr
# (docker inspect shows it in the container's health log).
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
printf 'POST /v1/models/%s/versions/%s:predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
  "$model" "$version" "${#body}" "$body" >&3 || fail "cannot send the request"
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
[[ $predictions == "$expected" ]] || fail "version ${version} of ${model} predicts [${predictions}] for [1.0], expected [${expected}]"
exit 0
