"""HTTPS for the collector: its server certificate, reloaded without a restart, and the
verified client certificate of each connection, passed to the access check (mTLS)."""
