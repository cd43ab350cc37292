"""The HTTP service, the Python client SDK and the `dataledger` CLI."""
