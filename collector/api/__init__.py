"""HTTP routers of the collector, each module owning one part of the API, and the HTTP helpers
they share (responses, params, history, forward, assets); routers never import routers."""
