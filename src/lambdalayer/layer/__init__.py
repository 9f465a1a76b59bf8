"""Wheels → a layer: fragments (assemble, slim, bytecode), the deterministic zip, trees.

Imports only resolve's data (no resolving), net and the core.
"""
