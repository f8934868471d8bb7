"""Operator commands (run from a checkout, never shipped to Lambda)."""
