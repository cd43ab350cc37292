"""Valuation of data licences from usage statistics (pure polars)."""
