#!/bin/sh
# Fetch the Gatehouse user CA (public), retrying until Gatehouse answers, then run sshd.
set -eu
until curl -fsS "${GATEHOUSE_URL}/api/v1/ssh/ca?type=user" -o /etc/ssh/gatehouse_user_ca.pub; do
  echo "waiting for Gatehouse at ${GATEHOUSE_URL}..." >&2
  sleep 2
done
ssh-keygen -A
exec /usr/sbin/sshd -D -e
