"""The serving rules both engines share: numba-compiled functions over arrays and scalars."""
