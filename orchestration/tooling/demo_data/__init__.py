"""Vectorised demo-data generator: Salesforce-shaped daily extracts of every landing object."""

from .generator import generate
from .scales import SCALES, Scale

__all__ = ["SCALES", "Scale", "generate"]
