"""The local Kafka broker recipe (`modelrouter kafka up|down|status`, or `python kafka/broker.py`
in a checkout): Apache Kafka 4.x from Maven Central jars, run with Java 17+. Shipped in the
package as `modelrouter.local_kafka`, with its pom.xml, log4j2 config and ACL program."""
