"""Answering history: the PromQL behind each metric family, the parsing of time ranges, the
choice of tier for a range, and the cache of encoded answers."""
