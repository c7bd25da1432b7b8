"""Inventory rules: the contract's enumerations, field checks and list queries, without I/O."""
