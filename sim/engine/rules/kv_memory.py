"""KV memory, as both kinds of batching and the waiting line ask about it.

A request reserves its whole context (prompt plus output) at admission and holds
it to its last token, so a newcomer fits while the reservations stay within the
replica's KV capacity, and a context larger than the capacity never fits.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def kv_need_tokens(prompt_tokens: int, output_tokens: int) -> int:
    """KV memory a request reserves at admission: its whole context, prompt plus output."""
    return prompt_tokens + output_tokens


@njit(cache=True)
def kv_fits(reserved_tokens: int, need_tokens: int, kv_capacity_tokens: float) -> bool:
    """`need_tokens` more fit beside `reserved_tokens` in the replica's KV memory."""
    return reserved_tokens + need_tokens <= kv_capacity_tokens


@njit(cache=True)
def never_fits(prompt_tokens: int, output_tokens: int, kv_capacity_tokens: float) -> bool:
    """The request's whole context exceeds the replica's KV memory, so it can never be
    served there and is dropped rather than left blocking the line."""
    return not kv_fits(0, kv_need_tokens(prompt_tokens, output_tokens), kv_capacity_tokens)
