"""Encoding: group planning, fitting every chain, rate control in the user's units, residuals
and verification."""
