"""hws — Hague Web Services: the International Bureau's service and the office kit."""

__version__ = "0.1.0"
