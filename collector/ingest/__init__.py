"""The ingest path: authenticate, read and decompress the body within limits, decode, check the
frame against policy and the series budget, de-duplicate, and turn it into import lines."""
