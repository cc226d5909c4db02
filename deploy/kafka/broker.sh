#!/usr/bin/env bash
# The compose deployment's broker (docker-compose.yml): Apache Kafka with SASL on every listener and ACLs.
#
# Writes, from IMS_KAFKA_ADMIN_PASSWORD, the JAAS file of the administrator's PLAIN login (the broker's one super
# user: the broker itself on the controller and administrators' listeners, and the init step, deploy/kafka/init.sh)
# and the administrator's client configuration (the health check's), then starts the image's own entry point. Every
# other principal is a SCRAM user that the init step creates, with its ACLs.
set -euo pipefail

: "${IMS_KAFKA_ADMIN_PASSWORD:?the password of the administrator}"
umask 077
login="org.apache.kafka.common.security.plain.PlainLoginModule required"
cat > /tmp/kafka_server_jaas.conf <<JAAS
KafkaServer {
  $login
  username="admin"
  password="${IMS_KAFKA_ADMIN_PASSWORD}"
  user_admin="${IMS_KAFKA_ADMIN_PASSWORD}";
  org.apache.kafka.common.security.scram.ScramLoginModule required;
};
JAAS
cat > /tmp/admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=$login username="admin" password="${IMS_KAFKA_ADMIN_PASSWORD}";
PROPERTIES
exec /etc/kafka/docker/run
