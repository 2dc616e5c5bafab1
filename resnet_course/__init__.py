"""Residual Networks course kit."""
