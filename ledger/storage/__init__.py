"""Storage adapter (SQLAlchemy Core) and the sequencer: the I/O edge of the ledger."""
