"""Placeholder until the real protocol lands: the skeleton's generic one."""

from ._legacy import LegacyApp as App

__all__ = ["App"]
