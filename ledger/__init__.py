"""dataledger's ledger: the pure core (keys, DSSE, statements, Merkle tree, notes), storage."""

__version__ = "0.1.0"
