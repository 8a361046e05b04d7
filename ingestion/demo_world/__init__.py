"""The demo world: a deterministic generator and the local source systems that serve it."""

from .generator import World, generate, normalize_email, normalize_handle

__all__ = ["World", "generate", "normalize_email", "normalize_handle"]
