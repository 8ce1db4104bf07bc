"""Talking to VictoriaMetrics: where each tier's requests go (a single node or a cluster's
vminsert and vmselect), one transport and one error tree, the client of the import,
export and health endpoints, the group-commit writer, the reader, the circuit breaker in front
of writes, the reachability probe, the re-send after a restart and PromQL text helpers."""
