"""The hostvitals agent: samples the host with psutil and pushes frames to a collector.

The agent imports only ``shared``, psutil, msgpack, aiohttp, tenacity and the standard library,
so a host that runs just the agent needs nothing else.
"""
