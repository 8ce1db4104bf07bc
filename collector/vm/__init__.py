"""Talking to VictoriaMetrics: one transport, the group-commit writer, the reader, the circuit
breaker in front of writes, the reachability probe and the re-send after a restart."""
