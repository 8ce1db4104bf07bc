"""The live view in memory: the newest values of every host, their headline numbers, the
fleet's rows, and the replicas that share the fleet."""
