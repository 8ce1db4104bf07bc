"""Talking to VictoriaMetrics: one transport and one error tree, the client of the import,
export and health endpoints, the group-commit writer, the reader, the circuit breaker in front
of writes, the reachability probe, the re-send after a restart and PromQL text helpers."""
