"""The hostvitals agent: samples the host with psutil and pushes frames to a collector.

The agent imports only ``shared``, psutil, msgpack, tenacity and the standard library (and
zstandard or uvloop when they happen to be installed), so a host that runs just the agent needs
nothing else.
"""
