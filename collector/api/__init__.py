"""HTTP routers of the collector; each module owns one part of the API."""
